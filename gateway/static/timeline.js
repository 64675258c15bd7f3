// medgate patient portal: the access timeline in words (who by name, when in local time, why,
// what, the decision and its reason, break-glass shown prominently) and its filters. The words
// come from the server's `display` object; the proof is checked over the codes (portal.js).
"use strict";

const ALL = "";

function tdLabelled(row, label, text, cls) {
  const td = document.createElement("td");
  td.dataset.label = label;
  if (text !== undefined) td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function localTime(ms) {
  const when = new Date(ms);
  const time = document.createElement("time");
  time.dateTime = when.toISOString();
  time.textContent = when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  return time;
}

// One row; returns the cell the proof result goes into.
function timelineRow(tbody, entry) {
  const d = entry.display;
  const tr = document.createElement("tr");
  tr.dataset.tx = entry.tx_id;
  tr.dataset.member = entry.requester.org;
  tr.dataset.purpose = entry.purpose;
  tr.dataset.decision = entry.decision;
  if (d.break_glass) tr.classList.add("breakglass");
  tdLabelled(tr, "When").appendChild(localTime(entry.ts));
  tdLabelled(tr, "Who", d.who);
  tdLabelled(tr, "Why", d.why);
  tdLabelled(tr, "What", d.what);
  const decision = tdLabelled(tr, "Decision");
  const strong = document.createElement("strong");
  strong.textContent = d.decision;
  decision.append(strong, document.createTextNode(`: ${d.reason}`));
  tdLabelled(tr, "Emergency", d.break_glass ? "EMERGENCY ACCESS (break-glass)" : "no",
    d.break_glass ? "flag" : "");
  tdLabelled(tr, "Held by", d.holder);
  const proof = tdLabelled(tr, "Proof", "checking...", "proof");
  tbody.appendChild(tr);
  return proof;
}

function fillSelect(select, label, pairs) {
  select.replaceChildren();
  const any = document.createElement("option");
  any.value = ALL;
  any.textContent = `${label}: all`;
  select.appendChild(any);
  for (const [value, text] of pairs) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = text;
    select.appendChild(option);
  }
}

function distinct(entries, key, words) {
  const seen = new Map();
  for (const e of entries) if (!seen.has(key(e))) seen.set(key(e), words(e));
  return [...seen.entries()].sort((a, b) => a[1].localeCompare(b[1]));
}

function applyFilters() {
  const member = document.getElementById("f-member").value;
  const purpose = document.getElementById("f-purpose").value;
  const decision = document.getElementById("f-decision").value;
  for (const tr of document.querySelectorAll("#log tbody tr")) {
    tr.hidden = (member !== ALL && tr.dataset.member !== member) ||
      (purpose !== ALL && tr.dataset.purpose !== purpose) ||
      (decision !== ALL && tr.dataset.decision !== decision);
  }
}

function setUpFilters(entries) {
  fillSelect(document.getElementById("f-member"), "Everyone",
    distinct(entries, (e) => e.requester.org, (e) => e.display.who));
  fillSelect(document.getElementById("f-purpose"), "Every purpose",
    distinct(entries, (e) => e.purpose, (e) => e.display.why));
  fillSelect(document.getElementById("f-decision"), "Every decision",
    distinct(entries, (e) => e.decision, (e) => e.display.decision));
  for (const id of ["f-member", "f-purpose", "f-decision"]) {
    document.getElementById(id).onchange = applyFilters;
  }
}

function showBreakGlass(entries) {
  const box = document.getElementById("breakglass");
  const urgent = entries.filter((e) => e.display.break_glass);
  box.hidden = urgent.length === 0;
  if (urgent.length === 0) return;
  const names = [...new Set(urgent.map((e) => e.display.who))].join(", ");
  box.textContent = `${urgent.length} emergency (break-glass) access` +
    `${urgent.length === 1 ? "" : "es"} to your records, by ${names}. ` +
    "They are marked in red below.";
}

function cosignersText(audit) {
  const cp = audit.checkpoint ? audit.checkpoint.cp : null;
  if (!cp) return "No checkpoint is final yet: every entry is pending.";
  const names = (audit.cosigners || []).map((c) => c.name).join(", ");
  return `Checkpoint: block ${cp.height}, ${cp.tree_size} entries, root ` +
    `${cp.tree_root.slice(0, 16)}..., cosigned by ${names}`;
}
