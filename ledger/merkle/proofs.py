"""Which stored full-subtree nodes a proof or root needs (pure), and how to assemble their hashes.

A proof is computed in three steps (transparency-dev/merkle's ``proof.Nodes``): this module says
which node ids are needed, the caller fetches them (``Store.nodes``), and ``ProofPlan.assemble``
turns the fetched hashes into the RFC 9162 proof. The store holds only *full* subtrees
(``NodeId(level, index)`` covers leaves ``[index * 2**level, (index + 1) * 2**level)``); a proof
node over the tree's ragged right edge (the "ephemeral" node) is rebuilt here from the full
subtrees that cover the same leaves. Every plan names O(log n) nodes: at most
``2 * ceil(log2(n)) + 1``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger.errors import MalformedProofError, TreeRangeError
from ledger.ids import NodeId
from ledger.merkle.hashing import EMPTY_ROOT, is_digest, node_hash

Fetch = Callable[[Sequence[NodeId]], Sequence[bytes]]
"""Returns the stored hashes of the given full-subtree nodes, in order (as ``Store.nodes``)."""


@dataclass(frozen=True, slots=True)
class ProofPlan:
    """The full-subtree nodes to fetch for one proof, and where the ephemeral node sits among them.

    ``ids[begin:end]`` cover the ephemeral node, ordered from its rightmost (lowest) subtree to its
    leftmost (highest): folding them right to left yields the ephemeral node's hash. When
    ``end - begin <= 1`` there is nothing to rebuild.
    """

    ids: tuple[NodeId, ...]
    begin: int
    end: int

    def assemble(self, hashes: Sequence[bytes]) -> list[bytes]:
        """The proof, from the hashes of ``ids`` in order.

        Requires ``len(hashes) == len(ids)`` and 32-byte hashes, else raises MalformedProofError
        (a store returning the wrong rows must not yield a proof that merely fails to verify later).
        """
        if len(hashes) != len(self.ids):
            raise MalformedProofError(f"got {len(hashes)} node hashes, plan needs {len(self.ids)}")
        if not all(is_digest(h) for h in hashes):
            raise MalformedProofError("a fetched node hash is not 32 bytes")
        if self.end - self.begin <= 1:
            return list(hashes)
        ephemeral = hashes[self.begin]
        for left in hashes[self.begin + 1 : self.end]:
            ephemeral = node_hash(left, ephemeral)
        return [*hashes[: self.begin], ephemeral, *hashes[self.end :]]


def range_ids(begin: int, end: int) -> list[NodeId]:
    """The fewest full subtrees exactly covering leaves ``[begin, end)``, left to right.

    Requires ``0 <= begin <= end``. Levels rise along the left border then fall along the right one
    (transparency-dev's ``compact.RangeNodes``); from ``begin == 0`` they only fall.
    """
    if not 0 <= begin <= end:
        raise TreeRangeError("range begin", begin, end)
    left, right = _decompose(begin, end)
    ids: list[NodeId] = []
    pos = begin
    while left:
        level = (left & -left).bit_length() - 1
        ids.append(NodeId(level, pos >> level))
        pos += 1 << level
        left ^= 1 << level
    while right:
        level = right.bit_length() - 1
        ids.append(NodeId(level, pos >> level))
        pos += 1 << level
        right ^= 1 << level
    return ids


def _decompose(begin: int, end: int) -> tuple[int, int]:
    """Bit masks of the subtree sizes on the left and right borders of ``[begin, end)``."""
    if begin == 0:
        return 0, end
    before = begin - 1
    # Only nodes strictly below the point where the paths to leaves begin-1 and end diverge are
    # inside the range: zeros of begin-1 under it are left-border subtrees, ones of end the right.
    mask = (1 << ((before ^ end).bit_length() - 1)) - 1
    return ~before & mask, end & mask


def compact_range_ids(size: int) -> list[NodeId]:
    """The perfect subtrees composing a tree of ``size`` leaves, left to right, levels decreasing:
    one per set bit of ``size``. Requires ``size >= 0``. This is the state of ``CompactTree``."""
    return range_ids(0, size)


def root_ids(size: int) -> list[NodeId]:
    """The stored nodes whose hashes (through ``root_from_range``) give the root of ``size`` leaves.

    Requires ``size >= 0``; the same nodes as ``compact_range_ids``.
    """
    return compact_range_ids(size)


def root_from_range(hashes: Sequence[bytes]) -> bytes:
    """The root over the hashes of ``compact_range_ids(size)``, in that order: fold right to left.

    Requires 32-byte hashes; the empty sequence gives ``EMPTY_ROOT``.
    """
    if not all(is_digest(h) for h in hashes):
        raise MalformedProofError("a compact range hash is not 32 bytes")
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


def inclusion_proof_ids(index: int, size: int) -> ProofPlan:
    """Nodes for the inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

    Requires ``0 <= index < size``; raises TreeRangeError otherwise.
    """
    if not 0 <= index < size:
        raise TreeRangeError("leaf index", index, size)
    return _skip_first(_plan(index, 0, size))


def consistency_proof_ids(size1: int, size2: int) -> ProofPlan:
    """Nodes for the consistency proof from the tree of ``size1`` leaves to that of ``size2``.

    Requires ``0 < size1 <= size2`` (nothing is proven from the empty tree: RFC 9162 section
    2.1.4.1 defines proofs for ``0 < m``); an empty plan when the sizes are equal.
    """
    if not 0 < size1 <= size2:
        raise TreeRangeError("size1", size1, size2)
    if size1 == size2:
        return ProofPlan((), 0, 0)
    # The biggest perfect subtree ending at size1; the proof starts from it, unless it is the
    # whole old tree (size1 a power of two), whose root the verifier already holds.
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    plan = _plan(index, level, size2)
    return _skip_first(plan) if index == 0 else plan


def _plan(index: int, level: int, size: int) -> ProofPlan:
    """The node ``(level, index)`` then the nodes of its inclusion proof in ``size`` leaves."""
    # The fork is where the path up from (level, index) leaves the path to leaf `size`; its right
    # sibling is the only node of the proof that may be incomplete (the ephemeral node).
    inner = (index ^ (size >> level)).bit_length() - 1
    fork_level = level + inner
    fork_index = index >> inner
    ids = [NodeId(level, index)]
    ids.extend(NodeId(lv, (index >> (lv - level)) ^ 1) for lv in range(level, fork_level))
    begin = len(ids)
    ids.extend(reversed(range_ids((fork_index + 1) << fork_level, size)))
    end = len(ids)
    # Subtrees left of the fork, lowest first: the border the proof climbs after the ephemeral node.
    ids.extend(reversed(range_ids(0, fork_index << fork_level)))
    return ProofPlan(tuple(ids), begin, end)


def _skip_first(plan: ProofPlan) -> ProofPlan:
    return ProofPlan(plan.ids[1:], plan.begin - 1, plan.end - 1)


def inclusion_proof(index: int, size: int, fetch: Fetch) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in ``size`` leaves, with one call to ``fetch``.

    Requires ``0 <= index < size`` and leaves up to ``size`` stored.
    """
    plan = inclusion_proof_ids(index, size)
    return plan.assemble(fetch(plan.ids))


def consistency_proof(size1: int, size2: int, fetch: Fetch) -> list[bytes]:
    """The consistency proof from ``size1`` to ``size2`` leaves, with one call to ``fetch``.

    Requires ``0 < size1 <= size2`` and leaves up to ``size2`` stored.
    """
    plan = consistency_proof_ids(size1, size2)
    return plan.assemble(fetch(plan.ids))


def root_at(size: int, fetch: Fetch) -> bytes:
    """The root of the tree of ``size`` leaves, with one call to ``fetch``. Requires size >= 0."""
    return root_from_range(fetch(root_ids(size)))
