"""Where a store stands against a reference checkpoint: current, ahead, behind, or forked.

Pure: the store's blocks and, for a store behind the reference, a consistency proof are passed in.
``ledger verify --against`` and the gateway's rollback guard both decide with ``compare``, so an
operator's tool and the serving gateway can never disagree about the same store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ledger.blocks import BlockHeader
from ledger.checkpoint import Checkpoint
from ledger.errors import MerkleError
from ledger.merkle import verify_consistency

ProofFetch = Callable[[int, int], Sequence[bytes]]
"""(our tree size, the reference's tree size) -> the consistency proof between them."""


class Standing(StrEnum):
    CURRENT = "current"
    """The store's head is the reference."""
    AHEAD = "ahead"
    """The store holds the reference block and more after it."""
    BEHIND = "behind"
    """The reference is past the store's head (and, when a proof was checked, extends it)."""
    FORKED = "forked"
    """The store and the reference disagree about a block both should hold."""


@dataclass(frozen=True, slots=True)
class Comparison:
    standing: Standing
    height: int
    """The store's head height."""
    reference_height: int
    problem: str
    """One line for the operator; empty when CURRENT or AHEAD."""


class BlockReads(Protocol):
    def block(self, height: int) -> BlockHeader | None: ...


def compare(
    store: BlockReads, head: BlockHeader, ref: Checkpoint, proof: ProofFetch | None = None
) -> Comparison:
    """Compare the store whose head is ``head`` with ``ref`` (same consortium assumed).

    A reference at or below the head must match our block at its height exactly. One above it
    means the store is behind; with ``proof`` the reference's tree must also extend ours
    (RFC 9162 consistency), or the store is on a fork as well as behind.
    """
    if ref.height <= head.height:
        ours = store.block(ref.height)
        if ours is None or not _same(ours, ref):
            mine = "missing" if ours is None else ours.hash()
            problem = f"block {ref.height} is {mine} here, the reference signed {ref.block_hash}"
            return Comparison(Standing.FORKED, head.height, ref.height, problem)
        standing = Standing.CURRENT if ref.height == head.height else Standing.AHEAD
        return Comparison(standing, head.height, ref.height, "")
    if proof is not None and ref.tree_size >= head.tree_size:
        try:
            hashes = proof(head.tree_size, ref.tree_size)
            verify_consistency(
                head.tree_size,
                ref.tree_size,
                hashes,
                bytes.fromhex(head.tree_root),
                bytes.fromhex(ref.tree_root),
            )
        except MerkleError:
            problem = (
                f"store at height {head.height} is behind the reference at {ref.height}, "
                "and its log is not a prefix of the reference's (consistency proof fails)"
            )
            return Comparison(Standing.FORKED, head.height, ref.height, problem)
    elif ref.tree_size < head.tree_size:
        problem = f"the reference at height {ref.height} has fewer entries than our head"
        return Comparison(Standing.FORKED, head.height, ref.height, problem)
    problem = f"store at height {head.height} is behind the reference at height {ref.height}"
    return Comparison(Standing.BEHIND, head.height, ref.height, problem)


def _same(ours: BlockHeader, ref: Checkpoint) -> bool:
    return (ours.hash(), ours.tree_size, ours.tree_root) == (
        ref.block_hash,
        ref.tree_size,
        ref.tree_root,
    )
