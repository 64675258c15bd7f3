"""The checkpoint book: compares members' verified checkpoints with our chain and finds finality.

Pure: our own checkpoints, the verified peer messages and the electorate are fed in; it answers with
findings (divergence, equivocation) and the highest checkpoint a quorum cosigned that our chain also
holds. Peers' checkpoints for heights we have not reached wait until our block arrives, and a
contradiction is reported only once decidable: as an outlier (PEER) when a quorum cosigned our
chain, as our own divergence (LOCAL) when a quorum cosigned another, as SPLIT when neither can.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from ledger.checkpoint.cosigned import CosignedCheckpoint
from ledger.checkpoint.electorate import Electorate
from ledger.checkpoint.findings import Divergence, DivergenceKind, Equivocation, Finding
from ledger.checkpoint.signed import Checkpoint, Rejection, SignedCheckpoint
from ledger.errors import CheckpointError
from ledger.ids import ConsortiumId, OrgId

MAX_AHEAD = 1024
"""Heights beyond our head for which peers' checkpoints are held: bounds what a member can make us
store by signing far-future heights, while letting a lagging gateway catch up."""
RETAIN = 256
"""Heights kept below the final one, so a late conflicting checkpoint is still caught."""
KEEP_FINDINGS = 1000


class CheckpointBook:
    """Requires: every message given to ``add`` passed ``verify_signed`` under ``electorate``."""

    def __init__(
        self,
        consortium: ConsortiumId,
        electorate: Electorate,
        *,
        max_ahead: int = MAX_AHEAD,
        retain: int = RETAIN,
    ) -> None:
        self.consortium = consortium
        self.electorate = electorate
        self._max_ahead = max_ahead
        self._retain = retain
        self._own: dict[int, Checkpoint] = {}
        self._head = -1
        self._floor = 0
        self._sigs: dict[int, dict[OrgId, SignedCheckpoint]] = {}
        self._reported: set[tuple[int, OrgId]] = set()
        self._settled: set[int] = set()
        """Heights found LOCAL or SPLIT: nothing later at that height changes the verdict."""
        self._final: CosignedCheckpoint | None = None
        self.findings: deque[Finding] = deque(maxlen=KEEP_FINDINGS)
        self.outliers: set[OrgId] = set()
        """Members that signed a checkpoint contradicting our chain (PEER or SPLIT divergences)."""

    @property
    def head(self) -> int:
        """The highest height of our own chain observed; -1 before any."""
        return self._head

    def final(self) -> CosignedCheckpoint | None:
        """The highest checkpoint of our chain cosigned by a quorum, with all agreeing signatures."""
        return self._final

    def needs_own(self, height: int) -> bool:
        """True when our checkpoint at ``height`` is needed here and the caller can supply it."""
        return self._floor <= height <= self._head and height not in self._own

    def observe_own(self, cp: Checkpoint) -> list[Finding]:
        """Our chain's checkpoint at ``cp.height`` (after each block, or loaded from the store)."""
        if cp.consortium != self.consortium:
            raise ValueError("our own checkpoint names another consortium")
        if cp.height < self._floor:
            return []
        self._own[cp.height] = cp
        self._head = max(self._head, cp.height)
        return self._remember(self._evaluate(cp.height))

    def add(self, signed: SignedCheckpoint) -> list[Finding]:
        """Take a verified checkpoint. Raises CheckpointError (TOO_FAR_AHEAD, or STALE when it is
        older than the retained window and can no longer be compared)."""
        height, org = signed.cp.height, signed.org
        if height > self._head + self._max_ahead:
            raise CheckpointError(Rejection.TOO_FAR_AHEAD, f"height {height} by {org}")
        if height < self._floor:
            raise CheckpointError(Rejection.STALE, f"height {height} is below {self._floor}")
        at_height = self._sigs.setdefault(height, {})
        first = at_height.get(org)
        if first is None:
            at_height[org] = signed
            return self._remember(self._evaluate(height))
        if first.cp == signed.cp or (height, org) in self._reported:
            return []  # a re-send (ECDSA signatures differ each time), or already reported
        self._reported.add((height, org))
        return self._remember([Equivocation(org, height, first, signed)])

    def set_electorate(self, electorate: Electorate) -> list[Finding]:
        """Use a new electorate (after a membership or quorum change) and re-evaluate."""
        changed = (electorate.orgs, electorate.quorum) != (
            self.electorate.orgs,
            self.electorate.quorum,
        )
        self.electorate = electorate
        if not changed:
            return []
        return self._remember([f for h in sorted(self._own) for f in self._evaluate(h)])

    def _remember(self, findings: list[Finding]) -> list[Finding]:
        self.findings.extend(findings)
        return findings

    def _evaluate(self, height: int) -> list[Finding]:
        """Decide what the signatures at ``height`` say about our chain there, once decidable."""
        own = self._own.get(height)
        if own is None or height in self._settled:
            return []
        sigs = self._sigs.get(height, {})
        backers: dict[Checkpoint, list[SignedCheckpoint]] = {}
        for org in sorted(sigs):
            if org in self.electorate.orgs:
                backers.setdefault(sigs[org].cp, []).append(sigs[org])
        for cp, group in backers.items():
            if cp != own and self._quorate(len(group)):
                # A quorum vouches for another chain: we are the one that diverged.
                self._settled.add(height)
                orgs = tuple(s.org for s in group)
                return [Divergence(DivergenceKind.LOCAL, height, orgs, own, cp, tuple(group))]
        agreeing = backers.get(own, [])
        if self._quorate(len(agreeing)):
            self._finalise(own, agreeing)
            return self._contradictions(own, sigs.values(), DivergenceKind.PEER)
        silent = len(self.electorate.orgs - set(sigs))
        contradicted = any(s.cp != own for s in sigs.values())
        if contradicted and not self._quorate(len(agreeing) + silent):
            # Contradicted, and not enough members left to cosign our chain: nothing can settle it.
            self._settled.add(height)
            return self._contradictions(own, sigs.values(), DivergenceKind.SPLIT)
        return []  # undecided: wait for more members' checkpoints

    def _quorate(self, signers: int) -> bool:
        required = self.electorate.required()
        return required is not None and signers >= required

    def _contradictions(
        self, own: Checkpoint, sigs: Iterable[SignedCheckpoint], kind: DivergenceKind
    ) -> list[Finding]:
        """Members contradicting our chain not reported yet, one finding per checkpoint they signed."""
        fresh: dict[Checkpoint, list[SignedCheckpoint]] = {}
        for signed in sorted(sigs, key=lambda s: s.org):
            if signed.cp != own and (own.height, signed.org) not in self._reported:
                self._reported.add((own.height, signed.org))
                self.outliers.add(signed.org)
                fresh.setdefault(signed.cp, []).append(signed)
        return [
            Divergence(kind, own.height, tuple(s.org for s in group), own, cp, tuple(group))
            for cp, group in fresh.items()
        ]

    def _finalise(self, own: Checkpoint, agreeing: list[SignedCheckpoint]) -> None:
        if self._final is not None and own.height < self._final.height:
            return
        self._final = CosignedCheckpoint(own, tuple(s.signature for s in agreeing))
        self._prune(own.height - self._retain)

    def _prune(self, floor: int) -> None:
        if floor <= self._floor:
            return
        self._floor = floor
        for table in (self._own, self._sigs):
            for height in [h for h in table if h < floor]:
                del table[height]
        self._reported = {(h, org) for h, org in self._reported if h >= floor}
        self._settled = {h for h in self._settled if h >= floor}
