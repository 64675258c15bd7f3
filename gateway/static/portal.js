// medgate patient portal: fetches /patient/audit and verifies every RFC 9162 inclusion proof in
// the browser (WebCrypto SHA-256) against the tree root of the quorum-cosigned checkpoint.
"use strict";

const enc = new TextEncoder();

function b64urlDecode(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function hexDecode(hex) {
  if (!/^([0-9a-f]{2})*$/.test(hex)) throw new Error("not hex");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function hexEncode(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(...parts) {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { buf.set(p, at); at += p.length; }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}

const leafHash = (leaf) => sha256(Uint8Array.of(0), leaf);
const nodeHash = (l, r) => sha256(Uint8Array.of(1), l, r);

// RFC 9162 section 2.1.3.2: the root an inclusion proof implies, or null if malformed.
async function rootFromInclusion(hash, index, size, proof) {
  if (!(index >= 0 && index < size)) return null;
  let fn = index, sn = size - 1, r = hash;
  for (const p of proof) {
    if (p.length !== 32 || sn === 0) return null;
    if ((fn % 2) === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn % 2) === 0) {
        while ((fn % 2) === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
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
  const root = await rootFromInclusion(
    await leafHash(leaf), entry.proof.leaf_index, entry.proof.tree_size,
    entry.proof.hashes.map(hexDecode));
  return root !== null && hexEncode(root) === cp.tree_root ? "verified" : "failed";
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
  status.textContent = `${audit.entries.length} accesses, ${verified} verified, ${audit.pending} pending`;
}

document.getElementById("load").addEventListener("click", () => {
  load().catch((err) => { document.getElementById("status").textContent = `error: ${err}`; });
});
