// medgate patient portal: fetches /patient/audit and verifies every RFC 9162 inclusion proof in
// the browser (merkle.js, WebCrypto SHA-256) against the tree root of the quorum-cosigned
// checkpoint; then checks that this checkpoint extends the one this browser saw last (history.js).
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

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function renderRow(tbody, entry) {
  const tr = document.createElement("tr");
  tr.dataset.tx = entry.tx_id;
  cell(tr, new Date(entry.ts).toISOString());
  cell(tr, `${entry.requester.org} (${entry.requester.role})`);
  cell(tr, entry.resource_types.join(", "));
  cell(tr, entry.purpose);
  cell(tr, entry.decision);
  cell(tr, entry.basis.join(", ") || "-");
  cell(tr, entry.break_glass ? "BREAK-GLASS" : "no", entry.break_glass ? "flag" : "");
  cell(tr, entry.notify_patient ? "yes" : "no");
  cell(tr, entry.custodian);
  const proof = cell(tr, "checking...", "proof");
  tbody.appendChild(tr);
  return proof;
}

async function load() {
  const status = document.getElementById("status");
  const token = document.getElementById("token").value.trim();
  status.textContent = "loading...";
  const resp = await fetch("/patient/audit", { headers: { Authorization: `Bearer ${token}` } });
  if (!resp.ok) { status.textContent = `refused (${resp.status})`; return; }
  const audit = await resp.json();
  const cp = audit.checkpoint ? audit.checkpoint.cp : null;
  document.getElementById("checkpoint").textContent = cp
    ? `Checkpoint: block ${cp.height}, ${cp.tree_size} entries, root ${cp.tree_root.slice(0, 16)}..., ` +
      `cosigned by ${audit.checkpoint.signatures.map((s) => s.org).join(", ")}`
    : "No checkpoint is final yet: every entry is pending.";
  const table = document.getElementById("log");
  const tbody = table.querySelector("tbody");
  tbody.replaceChildren();
  table.hidden = false;
  let verified = 0;
  for (const entry of audit.entries) {
    const proofCell = renderRow(tbody, entry);
    const result = await verifyEntry(entry, cp, audit.patient_ref);
    proofCell.textContent = result;
    proofCell.className = `proof ${result}`;
    if (result === "verified") verified++;
  }
  const history = document.getElementById("history");
  const said = await checkHistory(audit.checkpoint, token);
  history.textContent = said.text;
  history.className = said.cls;
  status.textContent = `${audit.entries.length} accesses, ${verified} verified, ${audit.pending} pending`;
}

document.getElementById("load").addEventListener("click", () => {
  load().catch((err) => { document.getElementById("status").textContent = `error: ${err}`; });
});
