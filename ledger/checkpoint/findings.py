"""What checkpoint comparison can find wrong: a divergent chain, or a member that equivocated.

Each finding is a value carrying its signed evidence, and renders as a small JSON-able dict for logs,
health output and operators (no PHI: only ids, heights and digests).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ledger.checkpoint.signed import Checkpoint, SignedCheckpoint
from ledger.ids import OrgId


class DivergenceKind(StrEnum):
    PEER = "peer"
    """Members named in ``orgs`` contradict our chain, which a quorum cosigned: they are the
    outliers. Flagged (metric, log), not an alarm: our chain stands proven."""
    SPLIT = "split"
    """Members named in ``orgs`` contradict our chain and too few are left to cosign it: no quorum
    can settle which chain is right. An alarm."""
    LOCAL = "local"
    """A quorum cosigned a checkpoint our chain contradicts: this gateway is the divergent one.
    An alarm."""


@dataclass(frozen=True, slots=True)
class Divergence:
    """Our chain's checkpoint at ``height`` differs from the one ``orgs`` signed."""

    kind: DivergenceKind
    height: int
    orgs: tuple[OrgId, ...]
    ours: Checkpoint
    theirs: Checkpoint
    evidence: tuple[SignedCheckpoint, ...]
    """The signed messages of ``orgs`` for ``theirs``."""

    @property
    def local(self) -> bool:
        return self.kind is DivergenceKind.LOCAL

    @property
    def alarming(self) -> bool:
        """Whether the gateway must stop releasing data until an operator resolves it."""
        return self.kind is not DivergenceKind.PEER

    def describe(self) -> dict[str, Any]:
        return {
            "finding": "divergence",
            "kind": str(self.kind),
            "height": self.height,
            "orgs": list(self.orgs),
            "our_block_hash": self.ours.block_hash,
            "their_block_hash": self.theirs.block_hash,
            "our_tree_root": self.ours.tree_root,
            "their_tree_root": self.theirs.tree_root,
        }


@dataclass(frozen=True, slots=True)
class Equivocation:
    """``org`` signed two different checkpoints for ``height``: both messages are the evidence."""

    org: OrgId
    height: int
    first: SignedCheckpoint
    second: SignedCheckpoint

    @property
    def local(self) -> bool:
        return False

    @property
    def alarming(self) -> bool:
        """A member signing two histories is Byzantine whatever our chain says: always an alarm."""
        return True

    def describe(self) -> dict[str, Any]:
        return {
            "finding": "equivocation",
            "height": self.height,
            "orgs": [self.org],
            "first_block_hash": self.first.cp.block_hash,
            "second_block_hash": self.second.cp.block_hash,
            "first_tree_root": self.first.cp.tree_root,
            "second_tree_root": self.second.cp.tree_root,
        }


Finding = Divergence | Equivocation
