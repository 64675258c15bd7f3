// RFC 9162 proof verification in the browser (WebCrypto SHA-256): inclusion (section 2.1.3.2) and
// consistency (section 2.1.4.2), pure functions of their inputs; no DOM, no network. Follows
// ledger/merkle/verify.py step for step, and passes the same RFC 9162 vectors. Sizes and indexes
// are BigInts inside: JS bit operators wrap at 2**31, a tree size need not.
"use strict";

async function sha256(...parts) {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { buf.set(p, at); at += p.length; }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}

// Digests travel as lowercase hex (block headers, checkpoints, proofs).
function hexDecode(hex) {
  if (typeof hex !== "string" || !/^([0-9a-f]{2})*$/.test(hex)) throw new Error("not hex");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

const leafHash = (leaf) => sha256(Uint8Array.of(0), leaf);
const nodeHash = (l, r) => sha256(Uint8Array.of(1), l, r);

// A proof node or leaf hash must be a 32-byte digest: a short one would let garbage shift the
// hashed bytes.
const isDigest = (x) => x instanceof Uint8Array && x.length === 32;

function sameBytes(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function bitLength(x) { return x === 0n ? 0 : x.toString(2).length; }

function onesCount(x) { return x.toString(2).split("").filter((c) => c === "1").length; }

// Proof length split: nodes below the path's divergence from leaf size-1, and border nodes.
function decomposeInclusion(index, size) {
  const inner = bitLength(index ^ (size - 1n));
  return [inner, onesCount(index >> BigInt(inner))];
}

async function chainInner(seed, proof, index) {
  for (let i = 0; i < proof.length; i++) {
    const left = (index >> BigInt(i)) & 1n;
    seed = left ? await nodeHash(proof[i], seed) : await nodeHash(seed, proof[i]);
  }
  return seed;
}

// Like chainInner, through left siblings only: rebuilds the smaller tree's root.
async function chainInnerRight(seed, proof, index) {
  for (let i = 0; i < proof.length; i++) {
    if ((index >> BigInt(i)) & 1n) seed = await nodeHash(proof[i], seed);
  }
  return seed;
}

async function chainBorderRight(seed, proof) {
  for (const node of proof) seed = await nodeHash(node, seed);
  return seed;
}

function bigSize(value) {
  return Number.isSafeInteger(value) ? BigInt(value) : null;
}

// The root `proof` implies for `hash` at `index` of a tree of `size` leaves, or null when the
// inputs are out of range or the proof has not exactly RFC 9162's number of 32-byte nodes.
async function rootFromInclusion(hash, index, size, proof) {
  const i = bigSize(index), n = bigSize(size);
  if (i === null || n === null || !(0n <= i && i < n)) return null;
  if (!isDigest(hash) || !proof.every(isDigest)) return null;
  const [inner, border] = decomposeInclusion(i, n);
  if (proof.length !== inner + border) return null;
  return chainBorderRight(await chainInner(hash, proof.slice(0, inner), i), proof.slice(inner));
}

async function verifyInclusion(hash, index, size, proof, root) {
  const calculated = await rootFromInclusion(hash, index, size, proof);
  return calculated !== null && sameBytes(root, calculated);
}

// True iff `proof` shows that the tree of `size2` leaves with `root2` extends the tree of `size1`
// leaves with `root1`. Requires 0 < size1 <= size2 (a proof from the empty tree proves nothing);
// equal sizes need an empty proof and equal roots.
async function verifyConsistency(size1, size2, proof, root1, root2) {
  const m = bigSize(size1), n = bigSize(size2);
  if (m === null || n === null || !(0n < m && m <= n)) return false;
  if (m === n) return proof.length === 0 && sameBytes(root1, root2);
  if (proof.length === 0 || !proof.every(isDigest)) return false;
  let [inner, border] = decomposeInclusion(m - 1n, n);
  const shift = bitLength(m & -m) - 1;
  inner -= shift;
  // The proof opens with the root of the biggest perfect subtree ending at size1, unless that
  // subtree is the whole old tree (size1 a power of two): then root1 itself is the seed.
  const whole = m === 1n << BigInt(shift);
  const seed = whole ? root1 : proof[0];
  const rest = whole ? proof : proof.slice(1);
  if (rest.length !== inner + border) return false;
  const mask = (m - 1n) >> BigInt(shift);
  const below = rest.slice(0, inner), right = rest.slice(inner);
  const hash1 = await chainBorderRight(await chainInnerRight(seed, below, mask), right);
  const hash2 = await chainBorderRight(await chainInner(seed, below, mask), right);
  return sameBytes(root1, hash1) && sameBytes(root2, hash2);
}
