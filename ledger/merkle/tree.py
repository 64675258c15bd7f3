"""The node's incremental Merkle tree: the right border of perfect subtrees, extended leaf by leaf.

Like transparency-dev's ``compact.Range`` over ``[0, size)``: O(log n) hashes of state, each append
costs one leaf plus amortised one node hash, and reports the full subtrees it completed so the
block that appends the leaves can commit them to the store (where proofs read them back).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ledger.errors import MalformedProofError, TreeRangeError
from ledger.ids import NodeId
from ledger.merkle.hashing import is_digest, node_hash
from ledger.merkle.proofs import compact_range_ids, root_from_range


class CompactTree:
    """A tree of ``size`` leaves held as the hashes of ``compact_range_ids(size)``.

    Mutable on purpose (a builder); ``copy()`` gives an independent one to build a tentative block.
    """

    __slots__ = ("_border", "_size")

    def __init__(self) -> None:
        """An empty tree (size 0)."""
        self._size = 0
        self._border: list[bytes] = []

    @classmethod
    def from_nodes(cls, size: int, fetched: Sequence[bytes]) -> CompactTree:
        """Restore a tree of ``size`` leaves from the stored hashes of ``compact_range_ids(size)``.

        Requires ``size >= 0`` (TreeRangeError) and one 32-byte hash per id, in the ids' order
        (MalformedProofError).
        """
        if size < 0:
            raise TreeRangeError("size", size, 0)
        want = len(compact_range_ids(size))
        if len(fetched) != want:
            raise MalformedProofError(f"{len(fetched)} border hashes for size {size}, need {want}")
        if not all(is_digest(h) for h in fetched):
            raise MalformedProofError("a border hash is not 32 bytes")
        tree = cls()
        tree._size = size
        tree._border = list(fetched)
        return tree

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def border(self) -> list[bytes]:
        """The hashes of ``compact_range_ids(size)``, in that order (what ``from_nodes`` takes)."""
        return list(self._border)

    def copy(self) -> CompactTree:
        """An independent tree with the same leaves."""
        return CompactTree.from_nodes(self._size, self._border)

    def append(self, leaf_hash: bytes) -> list[tuple[NodeId, bytes]]:
        """Add one leaf; return the full-subtree nodes it completed, the leaf's own node first.

        Requires a 32-byte ``leaf_hash`` (MalformedProofError): the border must hold digests only.
        """
        if not is_digest(leaf_hash):
            raise MalformedProofError(f"leaf hash is {len(leaf_hash)} bytes, not 32")
        index = self._size
        completed = [(NodeId(0, index), leaf_hash)]
        node = leaf_hash
        level = 0
        # Each trailing one bit of the old size is a perfect subtree on the border, the left
        # sibling of the subtree just completed: merge them, climbing one level per bit.
        while index & 1:
            node = node_hash(self._border.pop(), node)
            level += 1
            index >>= 1
            completed.append((NodeId(level, index), node))
        self._border.append(node)
        self._size += 1
        return completed

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[tuple[NodeId, bytes]]:
        """``append`` every leaf hash in order; return all the nodes they completed, in order."""
        completed: list[tuple[NodeId, bytes]] = []
        for leaf_hash in leaf_hashes:
            completed.extend(self.append(leaf_hash))
        return completed

    def root(self) -> bytes:
        """The RFC 9162 root of the leaves so far (``EMPTY_ROOT`` when there are none)."""
        return root_from_range(self._border)
