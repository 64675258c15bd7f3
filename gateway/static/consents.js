// medgate patient portal: the patient's consents: the ones on record (revoke those given here)
// and a form to give a new one to a named member for chosen purposes, kinds of records and a
// period. Requests carry the token in a header and X-Medgate-CSRF (notices.js: patientFetch).
"use strict";

const OFFERED_PURPOSES = ["TREAT", "ETREAT", "HPAYMT", "COVAUTH", "PUBHLTH", "HRESCH"];

function checkbox(fieldset, name, value, text) {
  const id = `${name}-${value}`;
  const label = document.createElement("label");
  label.htmlFor = id;
  const input = document.createElement("input");
  input.type = "checkbox";
  input.id = id;
  input.name = name;
  input.value = value;
  label.append(input, document.createTextNode(` ${text}`));
  fieldset.appendChild(label);
}

function day(ms) {
  return ms === null ? "open" : new Date(ms).toLocaleDateString(undefined, { dateStyle: "medium" });
}

async function setUpConsentForm(token) {
  const resp = await patientFetch("/patient/members", token);
  if (!resp.ok) return;
  const { members, purposes, resource_kinds: kinds } = await resp.json();
  const grantee = document.getElementById("grantee");
  grantee.replaceChildren();
  for (const m of members) {
    const option = document.createElement("option");
    option.value = m.org;
    option.textContent = m.name;
    grantee.appendChild(option);
  }
  const purposeSet = document.getElementById("purposes");
  purposeSet.querySelectorAll("label").forEach((l) => l.remove());
  for (const code of OFFERED_PURPOSES) checkbox(purposeSet, "purpose", code, purposes[code]);
  const kindSet = document.getElementById("kinds");
  kindSet.querySelectorAll("label").forEach((l) => l.remove());
  for (const [code, text] of Object.entries(kinds)) checkbox(kindSet, "kind", code, text);
  const today = new Date();
  document.getElementById("start").value = today.toISOString().slice(0, 10);
  const next = new Date(today.getTime() + 365 * 86400000);
  document.getElementById("end").value = next.toISOString().slice(0, 10);
  const form = document.getElementById("grant-form");
  form.onsubmit = (event) => {
    event.preventDefault();
    grantConsent(token).catch((err) => say(`error: ${err}`));
  };
}

function say(text) { document.getElementById("consent-status").textContent = text; }

function checked(name) {
  return [...document.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
}

async function grantConsent(token) {
  const body = {
    grantee: document.getElementById("grantee").value,
    purposes: checked("purpose"),
    resource_types: checked("kind"),
    start: document.getElementById("start").value,
    end: document.getElementById("end").value,
  };
  if (body.purposes.length === 0 || body.resource_types.length === 0) {
    say("Choose at least one purpose and one kind of record.");
    return;
  }
  say("recording your consent...");
  const resp = await patientFetch("/patient/consents", token, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!resp.ok) { say(`Not recorded: ${await problem(resp)}`); return; }
  say("Consent recorded on the ledger.");
  await loadConsents(token);
}

async function problem(resp) {
  try {
    const issue = (await resp.json()).issue[0];
    return issue.diagnostics || issue.code;
  } catch (e) { return `HTTP ${resp.status}`; }
}

async function revokeConsent(token, consentId) {
  say("revoking...");
  const resp = await patientFetch(`/patient/consents/${consentId}/revoke`, token, { method: "POST" });
  if (!resp.ok) { say(`Not revoked: ${await problem(resp)}`); return; }
  say("Consent revoked on the ledger.");
  await loadConsents(token);
}

async function loadConsents(token) {
  const resp = await patientFetch("/patient/consents", token);
  const section = document.getElementById("consents");
  if (!resp.ok) return;
  section.hidden = false;
  const tbody = document.querySelector("#consent-list tbody");
  tbody.replaceChildren();
  for (const c of (await resp.json()).consents) {
    const tr = document.createElement("tr");
    tr.dataset.consent = c.consent_id;
    tdLabelled(tr, "Who may see", c.grantee.name);
    tdLabelled(tr, "For", c.purposes_text.join(", "));
    tdLabelled(tr, "Which records", c.resource_text);
    // A period's end is the first instant after it (the last day is included): show that day.
    const last = c.period.end === null ? null : c.period.end - 1;
    tdLabelled(tr, "Period", `${day(c.period.start)} to ${day(last)}`);
    tdLabelled(tr, "Status", c.status === "revoked" ? "revoked" : c.in_force ? "in force" : "not in force now");
    const action = tdLabelled(tr, "Action");
    if (c.revocable) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary revoke";
      button.textContent = "Revoke";
      button.setAttribute("aria-label", `Revoke the consent for ${c.grantee.name}`);
      button.addEventListener("click", () => revokeConsent(token, c.consent_id));
      action.appendChild(button);
    }
    tbody.appendChild(tr);
  }
}
