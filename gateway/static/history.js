// medgate patient portal: the browser remembers the last cosigned checkpoint whose history it
// checked (localStorage of this gateway's origin, one per consortium: ledger-wide sizes, roots
// and signatures, nothing about the patient). On the next visit it fetches the RFC 9162
// consistency proof between that checkpoint and the current one with the patient's token and
// verifies it itself (merkle.js): a proof that fails means the log shown now does not extend the
// log the patient saw before, i.e. history was rewritten. See docs/patient-proofs.md.
"use strict";

const SEEN_PREFIX = "medgate.checkpoint.";

function readSeen(consortium) {
  try {
    const seen = JSON.parse(localStorage.getItem(SEEN_PREFIX + consortium));
    const cp = seen && seen.checkpoint && seen.checkpoint.cp;
    if (cp && Number.isSafeInteger(cp.tree_size) && cp.tree_size > 0 &&
        typeof cp.tree_root === "string") {
      return { cp, seenAt: String(seen.seen_at) };
    }
  } catch (e) { /* unreadable or no storage: as if never seen */ }
  return null;
}

function remember(checkpoint) {
  const value = { checkpoint, seen_at: new Date().toISOString() };
  try {
    localStorage.setItem(SEEN_PREFIX + checkpoint.cp.consortium, JSON.stringify(value));
  } catch (e) { /* no storage: nothing remembered, the next visit says "first visit" again */ }
}

// Whether the tree `newer` extends the tree `older` (both {tree_size, tree_root}). Throws when
// no proof could be had (refused, unreachable): that proves nothing either way.
async function extendsTree(older, newer, token) {
  if (older.tree_size === newer.tree_size) return older.tree_root === newer.tree_root;
  const url = `/ledger/proof/consistency?from=${older.tree_size}&to=${newer.tree_size}`;
  const resp = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  if (!resp.ok) throw new Error(`no consistency proof (HTTP ${resp.status})`);
  try {
    const proof = await resp.json();
    if (proof.from !== older.tree_size || proof.to !== newer.tree_size) return false;
    return await verifyConsistency(
      older.tree_size, newer.tree_size, proof.hashes.map(hexDecode),
      hexDecode(older.tree_root), hexDecode(newer.tree_root));
  } catch (e) {
    return false; // not JSON, not hex, no hashes: a malformed proof proves nothing consistent
  }
}

// What the portal says about history: {cls: verified | failed | pending, text}. `checkpoint` is
// the cosigned checkpoint of /patient/audit (null when none is final yet).
async function checkHistory(checkpoint, token) {
  if (!checkpoint) return { cls: "pending", text: "No final checkpoint yet: history not checked." };
  const cp = checkpoint.cp;
  const seen = readSeen(cp.consortium);
  if (seen === null) {
    remember(checkpoint);
    return { cls: "pending", text: `First visit from this browser: it now remembers the ` +
      `checkpoint of ${cp.tree_size} entries (block ${cp.height}); the next visit checks that ` +
      "history was not rewritten since." };
  }
  const was = `the checkpoint of ${seen.cp.tree_size} entries this browser saw on ${seen.seenAt}`;
  const [older, newer] = seen.cp.tree_size <= cp.tree_size ? [seen.cp, cp] : [cp, seen.cp];
  let ok;
  try {
    ok = await extendsTree(older, newer, token);
  } catch (err) {
    return { cls: "pending", text: `History not checked: ${err.message}; ${was} is kept.` };
  }
  if (!ok) {
    return { cls: "failed", text: `WARNING: the ledger's history does not match. The ` +
      `checkpoint of ${cp.tree_size} entries shown now is not consistent with ${was}: the ` +
      "consistency proof between them does not verify, so entries may have been rewritten or " +
      "removed. Tell your hospital. This browser keeps the earlier checkpoint as evidence." };
  }
  if (cp.tree_size >= seen.cp.tree_size) remember(checkpoint);
  const how = cp.tree_size === seen.cp.tree_size ? "is the same as"
    : cp.tree_size > seen.cp.tree_size ? "extends" : "is a prefix of";
  return { cls: "verified", text: `History consistent: the checkpoint of ${cp.tree_size} entries ` +
    `(block ${cp.height}) ${how} ${was} (RFC 9162 consistency proof, verified in this browser).` };
}
