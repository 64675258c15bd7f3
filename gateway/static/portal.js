// medgate patient portal: fetches /patient/audit and verifies every RFC 9162 inclusion proof in
// the browser (merkle.js, WebCrypto SHA-256) against the tree root of the quorum-cosigned
// checkpoint; then checks that this checkpoint extends the one this browser saw last (history.js).
// The access token lives in this page's memory only (signin.js): never a cookie or a URL.
"use strict";

function b64urlDecode(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// The row must say what the proven leaf says: the ledger entry, not the server's summary.
function leafMatches(leaf, entry, patientRef) {
  let body;
  try { body = JSON.parse(new TextDecoder().decode(leaf)).tx.body; } catch (e) { return false; }
  return body.patient_ref === patientRef && body.requester === entry.requester.org &&
    body.custodian === entry.custodian && body.decision === entry.decision &&
    body.purpose === entry.purpose && body.break_glass === entry.break_glass &&
    JSON.stringify(body.resource_types) === JSON.stringify(entry.resource_types);
}

async function verifyEntry(entry, cp, patientRef) {
  if (entry.status === "pending" || !entry.proof) return "pending";
  if (!cp || entry.proof.tree_size !== cp.tree_size || entry.proof.root !== cp.tree_root) {
    return "failed";
  }
  const leaf = b64urlDecode(entry.leaf);
  if (!leafMatches(leaf, entry, patientRef)) return "failed";
  const ok = await verifyInclusion(
    await leafHash(leaf), entry.proof.leaf_index, entry.proof.tree_size,
    entry.proof.hashes.map(hexDecode), hexDecode(cp.tree_root));
  return ok ? "verified" : "failed";
}

async function showTimeline(token) {
  const status = document.getElementById("status");
  const resp = await patientFetch("/patient/audit", token);
  if (!resp.ok) { status.textContent = `refused (${resp.status})`; return; }
  const audit = await resp.json();
  const cp = audit.checkpoint ? audit.checkpoint.cp : null;
  document.getElementById("checkpoint").textContent = cosignersText(audit);
  document.getElementById("timeline").hidden = false;
  const tbody = document.querySelector("#log tbody");
  tbody.replaceChildren();
  setUpFilters(audit.entries);
  showBreakGlass(audit.entries);
  let verified = 0, failed = 0;
  for (const entry of audit.entries) {
    const proofCell = timelineRow(tbody, entry);
    const result = await verifyEntry(entry, cp, audit.patient_ref);
    proofCell.textContent = result;
    proofCell.className = `proof ${result}`;
    if (result === "verified") verified++;
    if (result === "failed") failed++;
  }
  const warning = document.getElementById("proof-warning");
  warning.hidden = failed === 0;
  warning.textContent = failed === 0 ? "" : `WARNING: ${failed} of the rows below failed ` +
    "their proof: what this page was sent does not match the ledger's cosigned checkpoint. " +
    "Tell your hospital.";
  const history = document.getElementById("history");
  const said = await checkHistory(audit.checkpoint, token);
  history.textContent = said.text;
  history.className = said.cls;
  status.textContent = `${audit.entries.length} accesses, ${verified} verified, ${audit.pending} pending`;
}

async function load(token) {
  document.getElementById("status").textContent = "loading...";
  await loadNotices(token);
  await showTimeline(token);
  await setUpConsentForm(token);
  await loadConsents(token);
}

function fail(err) { document.getElementById("status").textContent = `error: ${err.message || err}`; }

document.getElementById("signin-button").addEventListener("click", () => startSignIn().catch(fail));
document.getElementById("signout-button").addEventListener("click", () => signOut().catch(fail));

resumeSession().then((token) => {
  if (token === null) return;
  document.getElementById("signin").hidden = true;
  document.getElementById("account").hidden = false;
  return load(token);
}).catch(fail);
