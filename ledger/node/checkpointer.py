"""The checkpointer: signs and publishes our checkpoint after each block, follows the members'
checkpoints on their own ordered stream, and raises the alarm when a chain diverges.

Checkpoints travel on a second Ordering dedicated to them, never in the ledger log: a checkpoint per
member per block in the log would make every block cause more entries, forever. The gateway turns
``alarm`` into a 503 on /readyz, a metric and a refusal to release data until ``clear_alarm``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from ledger.blocks import BlockHeader
from ledger.checkpoint import (
    Checkpoint,
    CheckpointBook,
    CosignedCheckpoint,
    Finding,
    Rejection,
    SignedCheckpoint,
    decode_checkpoint,
    electorate_of,
    sign_checkpoint,
    verify_signed,
)
from ledger.errors import CheckpointError, LedgerError
from ledger.ids import ConsortiumId, OrgId
from ledger.ordering.base import Ordering
from ledger.state import namespaces as ns
from ledger.storage.base import BlockWrite

log = logging.getLogger("medgate.ledger.checkpointer")

BACKLOG = 4096
"""Checkpoint messages re-read on start: enough for every member's last few hundred blocks, so a
restart neither replays the stream from its beginning nor misses a recent conflict."""
MAX_PARKED = 1024
"""Checkpoints signed with a key we do not know yet, held until our chain reaches their height."""
_ELECTORATE_NAMESPACES = frozenset({ns.MEMBERS, ns.KEYS, ns.QUORUM})


class CheckpointStore(Protocol):
    """What the checkpointer reads of a Store (ledger.storage.sql.SqlStore satisfies it)."""

    def head(self) -> BlockHeader | None: ...

    def block(self, height: int) -> BlockHeader | None: ...

    def get(self, ns: str, key: str) -> bytes | None: ...

    def scan(self, ns: str, prefix: str = "") -> Iterator[tuple[str, bytes]]: ...


@dataclass(slots=True)
class CheckpointMetrics:
    published: int = 0
    checkpoints_verified: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    """Refused peer checkpoints by Rejection reason."""
    checkpoint_mismatches: int = 0
    final_height: int = -1
    alarms_cleared: int = 0


class Checkpointer:
    """Requires: ``store`` holds at least the genesis block; register ``on_block`` with the
    Committer and run ``run()`` as a task."""

    def __init__(
        self,
        org: OrgId,
        signing_key: ec.EllipticCurvePrivateKey,
        store: CheckpointStore,
        stream: Ordering,
        consortium: ConsortiumId,
        *,
        backlog: int = BACKLOG,
    ) -> None:
        head = store.head()
        if head is None:
            raise LedgerError("the store has no genesis block: bootstrap it first")
        self.org = org
        self.consortium = consortium
        self.metrics = CheckpointMetrics()
        self._key = signing_key
        self._store = store
        self._stream = stream
        self._backlog = backlog
        self._book = CheckpointBook(consortium, electorate_of(store))
        self._book.observe_own(Checkpoint.of(consortium, head))
        self._parked: deque[SignedCheckpoint] = deque(maxlen=MAX_PARKED)
        self._alarm: Finding | None = None

    def rekey(self, signing_key: ec.EllipticCurvePrivateKey) -> None:
        """Sign the next checkpoints with ``signing_key``: the member rotated its key and the
        block that made the new key active is committed (call before publishing that block's)."""
        self._key = signing_key

    @property
    def alarm(self) -> Finding | None:
        """The unresolved alarming finding, or None: our own divergence (LOCAL, which supersedes
        any other), a SPLIT no quorum can settle, or a member's equivocation. Outliers against our
        quorum-cosigned chain (PEER) are counted and logged and listed in ``outliers`` instead."""
        return self._alarm

    @property
    def outliers(self) -> frozenset[OrgId]:
        return frozenset(self._book.outliers)

    @property
    def findings(self) -> list[Finding]:
        return list(self._book.findings)

    def final(self) -> CosignedCheckpoint | None:
        """The highest checkpoint of our chain that a quorum cosigned."""
        return self._book.final()

    def clear_alarm(self, operator_note: str) -> Finding | None:
        """An operator resolved the alarm; returns what was cleared. A divergence that persists
        raises a new alarm at the next block."""
        cleared, self._alarm = self._alarm, None
        if cleared is not None:
            self.metrics.alarms_cleared += 1
            log.warning(
                "checkpoint alarm cleared by operator",
                extra={"org": self.org, "note": operator_note, "checkpoint": cleared.describe()},
            )
        return cleared

    async def publish_head(self) -> None:
        """Sign and publish the head's checkpoint: on start, in case we stopped between committing
        a block and publishing it (the dedup key makes a repeat a no-op)."""
        head = await asyncio.to_thread(self._store.head)
        if head is not None:
            await self._publish(Checkpoint.of(self.consortium, head))

    async def on_block(self, write: BlockWrite) -> None:
        """The Committer's listener: compare and publish our checkpoint for the committed block."""
        if any(change.ns in _ELECTORATE_NAMESPACES for change in write.changes):
            electorate = await asyncio.to_thread(electorate_of, self._store)
            self._handle(self._book.set_electorate(electorate))
        cp = Checkpoint.of(self.consortium, write.header)
        self._handle(self._book.observe_own(cp))
        await self._publish(cp)
        await self._retry_parked()

    async def run(self) -> None:
        """Follow the checkpoint stream until cancelled (or the stream closes)."""
        after = max(0, await self._stream.last_position() - self._backlog)
        async for message in self._stream.read(after):
            await self.ingest(message.data)

    async def ingest(self, raw: bytes) -> None:
        """One message from the checkpoint stream; refused ones are counted and logged, never fatal."""
        signed = self._verified(raw)
        if signed is not None:
            await self._take(signed)

    async def _publish(self, cp: Checkpoint) -> None:
        signed = sign_checkpoint(cp, self.org, self._key)
        try:
            await self._stream.submit(signed.encode(), signed.dedup_key())
        except LedgerError as exc:
            # Not fatal to the committer: peers finalise on later heights, and the next block
            # publishes again. The missing height only delays finality.
            log.warning("checkpoint not published", extra={"height": cp.height, "error": str(exc)})
            return
        self.metrics.published += 1

    def _verified(self, raw: bytes) -> SignedCheckpoint | None:
        try:
            signed = decode_checkpoint(raw)
        except CheckpointError as exc:
            self._reject(exc)
            return None
        try:
            return verify_signed(signed, self._book.electorate.key, self.consortium)
        except CheckpointError as exc:
            if exc.reason == Rejection.UNKNOWN_KEY and signed.cp.height > self._book.head:
                # Perhaps a member or key added in a block we have not committed yet.
                self._parked.append(signed)
            else:
                self._reject(exc)
            return None

    async def _take(self, signed: SignedCheckpoint) -> None:
        height = signed.cp.height
        if self._book.needs_own(height):
            header = await asyncio.to_thread(self._store.block, height)
            if header is not None:
                self._handle(self._book.observe_own(Checkpoint.of(self.consortium, header)))
        try:
            findings = self._book.add(signed)
        except CheckpointError as exc:
            self._reject(exc)
            return
        self.metrics.checkpoints_verified += 1
        self._handle(findings)

    async def _retry_parked(self) -> None:
        head = self._book.head
        ready = [s for s in self._parked if s.cp.height <= head]
        if not ready:
            return
        self._parked = deque((s for s in self._parked if s.cp.height > head), maxlen=MAX_PARKED)
        for signed in ready:
            await self.ingest(signed.encode())

    def _reject(self, exc: CheckpointError) -> None:
        self.metrics.rejected[exc.reason] += 1
        log.warning("checkpoint refused", extra={"reason": exc.reason, "problem": exc.problem})

    def _handle(self, findings: list[Finding]) -> None:
        for finding in findings:
            self.metrics.checkpoint_mismatches += 1
            log.log(
                logging.ERROR if finding.alarming else logging.WARNING,
                "checkpoint mismatch",
                extra={"org": self.org, "checkpoint": finding.describe()},
            )
            if not finding.alarming:
                continue  # an outlier against our quorum-cosigned chain: flagged, not blocking
            if self._alarm is None or (finding.local and not self._alarm.local):
                self._alarm = finding
        final = self._book.final()
        self.metrics.final_height = -1 if final is None else final.height
