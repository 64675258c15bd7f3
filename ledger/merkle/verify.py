"""Pure verification of RFC 9162 inclusion and consistency proofs (no storage, no I/O).

Follows transparency-dev/merkle's ``proof/verify.go``. Leaf hashes and proof nodes must be 32-byte
digests: a short or empty node would let garbage shift the hashed bytes, so it is rejected outright.
Roots are compared as opaque bytes: a root of another length can never match a calculated one.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.errors import MalformedProofError, RootMismatchError, TreeRangeError
from ledger.merkle.hashing import is_digest, node_hash


def root_from_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for ``leaf_hash`` at ``index`` in a tree of ``size`` leaves.

    Requires ``0 <= index < size`` (else TreeRangeError), a 32-byte ``leaf_hash`` and exactly the
    number of 32-byte proof nodes RFC 9162 prescribes for ``(index, size)`` (else
    MalformedProofError).
    """
    if not 0 <= index < size:
        raise TreeRangeError("leaf index", index, size)
    if not is_digest(leaf_hash):
        raise MalformedProofError(f"leaf hash is {len(leaf_hash)} bytes, not 32")
    _check_nodes(proof)
    inner, border = _decompose_inclusion(index, size)
    if len(proof) != inner + border:
        raise MalformedProofError(f"{len(proof)} proof nodes, expected {inner + border}")
    seed = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(seed, proof[inner:])


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Preconditions as ``root_from_inclusion``. Raises RootMismatchError(expected=root, calculated)
    when the proof leads elsewhere; returns None on success.
    """
    _match(root, root_from_inclusion(leaf_hash, index, size, proof))


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size2`` leaves, ``root2``, extends that of ``size1``, ``root1``.

    Requires ``0 < size1 <= size2`` (TreeRangeError): a proof from the empty tree proves nothing,
    so it is refused rather than vacuously accepted. Equal sizes need an empty proof and equal
    roots; otherwise the proof must have RFC 9162's length and 32-byte nodes (MalformedProofError).
    Raises RootMismatchError on the first root that does not match; returns None on success.
    """
    if not 0 < size1 <= size2:
        raise TreeRangeError("size1", size1, size2)
    if size1 == size2:
        if proof:
            raise MalformedProofError("equal sizes need an empty proof")
        _match(root2, root1)
        return
    if not proof:
        raise MalformedProofError("empty proof for different sizes")
    _check_nodes(proof)
    inner, border = _decompose_inclusion(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    # The proof opens with the root of the biggest perfect subtree ending at size1, unless that
    # subtree is the whole old tree (size1 a power of two): then the verifier's root1 is the seed.
    seed, rest = (root1, proof) if size1 == 1 << shift else (proof[0], proof[1:])
    if len(rest) != inner + border:
        want = len(proof) - len(rest) + inner + border
        raise MalformedProofError(f"{len(proof)} proof nodes, expected {want}")
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    _match(root1, hash1)
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    _match(root2, hash2)


def _check_nodes(proof: Sequence[bytes]) -> None:
    for i, node in enumerate(proof):
        if not is_digest(node):
            raise MalformedProofError(f"proof node {i} is {len(node)} bytes, not 32")


def _match(expected: bytes, calculated: bytes) -> None:
    if expected != calculated:
        raise RootMismatchError(expected, calculated)


def _decompose_inclusion(index: int, size: int) -> tuple[int, int]:
    """Proof length split: nodes below the path's divergence from leaf size-1, and border nodes."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, node in enumerate(proof):
        seed = node_hash(node, seed) if (index >> i) & 1 else node_hash(seed, node)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Like ``_chain_inner`` but only through left siblings: rebuilds the smaller tree's root."""
    for i, node in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(node, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for node in proof:
        seed = node_hash(node, seed)
    return seed
