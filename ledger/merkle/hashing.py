"""RFC 9162 hashing: leaf and interior node hashes over SHA-256, and the empty tree's root."""

from __future__ import annotations

import hashlib

HASH_SIZE = 32
"""Every leaf hash, node hash and root is a raw SHA-256 digest of this many bytes."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the tree of size 0 (RFC 9162 section 2.1.1: the hash of the empty string)."""

# Pre-seeded hashers: copying one skips the domain-separation byte's concatenation, which would
# allocate a fresh buffer the size of the leaf on every call (the node hashes millions of leaves).
_LEAF_PREFIX = hashlib.sha256(b"\x00")
_NODE_PREFIX = hashlib.sha256(b"\x01")


def leaf_hash(leaf: bytes) -> bytes:
    """``SHA-256(0x00 || leaf)``: the hash of one log entry. Any leaf bytes, even empty."""
    h = _LEAF_PREFIX.copy()
    h.update(leaf)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node.

    Requires both children to be 32-byte digests; callers that take hashes from outside (proofs,
    the store) check the length first, since a shorter input would shift the domain separation.
    """
    h = _NODE_PREFIX.copy()
    h.update(left)
    h.update(right)
    return h.digest()


def is_digest(value: bytes) -> bool:
    """Whether ``value`` has the shape of a node hash (32 bytes)."""
    return len(value) == HASH_SIZE
