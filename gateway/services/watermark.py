"""The rollback guard: this member's record of the last checkpoint it signed and the last one a
quorum cosigned, kept outside the ledger store, and the refusal to release from a store that is
older than (or forked from) what this member already vouched for.

Why outside the store: a store restored from a backup, or a database rolled back, is internally
consistent and passes ``ledger verify``; only a reference the rollback did not touch shows it.
Two references are used, so that one restore rarely takes both back:
- the record file (``storage.watermark``, 0600), rewritten after every committed block; keep it on
  another volume than the database, outside the database's backup set;
- this member's own signed checkpoints on the consortium's checkpoint stream (replicated to every
  member, never deleted), of which the last ``BACKLOG`` messages are read at start. "Own" means
  signed under one of this member's signing keys (``own_keys``), not only the one in its key file:
  after a rotation its checkpoints are signed with the next key before ``--finish``, and those it
  signed before the rotation with a key that is retired now.
A store found behind or forked at start suspends releases (503) until an operator clears it
(``POST /ledger/alarm/clear``): the node then catches up from the ordering log by itself, but
whatever else was restored with the store (the FHIR store, archived consents) needs a human.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.fileperms import replace_private
from ledger.blocks import BlockHeader
from ledger.canonical import canonical, parse
from ledger.checkpoint import (
    Checkpoint,
    CosignedCheckpoint,
    decode_checkpoint,
    decode_cosigned,
)
from ledger.checkpoint.signed import SignedCheckpoint, checkpoint_of
from ledger.errors import CheckpointError, EncodingError, KeyFormatError
from ledger.ids import ConsortiumId, Kid, OrgId
from ledger.ordering.base import Ordered, Ordering
from ledger.signing import ES256, load_public_key_b64, verify
from ledger.standing import BlockReads, Standing, compare
from ledger.state import member
from ledger.statekv import StateReader
from ledger.storage.base import BlockWrite

log = logging.getLogger("medgate.gateway.watermark")

BACKLOG = 4096
"""Checkpoint-stream messages searched at start for this member's own latest checkpoint."""


class WatermarkError(ValueError):
    """The record file exists but cannot be read as a record: refuse to start rather than guess."""


@dataclass(frozen=True, slots=True)
class Watermark:
    """The highest checkpoint this member signed and the highest a quorum cosigned (or None)."""

    signed: Checkpoint | None = None
    final: CosignedCheckpoint | None = None

    def encode(self) -> bytes:
        return canonical(
            {
                "v": 1,
                "signed": None if self.signed is None else self.signed.to_json(),
                "final": None if self.final is None else self.final.to_json(),
            }
        )

    def raised(self, signed: Checkpoint | None, final: CosignedCheckpoint | None) -> Watermark:
        """The higher of each reference: a record never moves down."""
        return Watermark(_higher(self.signed, signed), _higher(self.final, final))


_Ref = TypeVar("_Ref", Checkpoint, CosignedCheckpoint)


def _higher(old: _Ref | None, new: _Ref | None) -> _Ref | None:
    if old is None or (new is not None and new.height > old.height):
        return new
    return old


def load_watermark(path: Path) -> Watermark:
    """The record at ``path``; an empty one when it does not exist yet. Raises WatermarkError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Watermark()
    except OSError as exc:
        raise WatermarkError(f"cannot read {path}: {exc}") from exc
    try:
        value = parse(raw)
        if not isinstance(value, dict) or value.get("v") != 1:
            raise WatermarkError(f"{path}: not a version 1 watermark record")
        signed = None if value["signed"] is None else checkpoint_of(value["signed"])
        final = None if value["final"] is None else decode_cosigned(canonical(value["final"]))
    except (EncodingError, CheckpointError, KeyError) as exc:
        raise WatermarkError(f"{path}: malformed watermark record ({exc})") from exc
    return Watermark(signed, final)


@dataclass(frozen=True, slots=True)
class OwnKey:
    """A signing key whose checkpoints are this member's own."""

    public: ec.EllipticCurvePublicKey
    max_tree_size: int | None = None
    """For a key the ledger shows retired: the log position of the entry that retired it. The
    node signs the checkpoint of the block holding that entry, and of every later block, with
    its new key, so no checkpoint of ours under this key covers a larger tree. None: no bound."""

    def covers(self, cp: Checkpoint) -> bool:
        return self.max_tree_size is None or cp.tree_size <= self.max_tree_size


def own_keys(
    state: StateReader, org: OrgId, held: Mapping[Kid, ec.EllipticCurvePublicKey]
) -> dict[Kid, OwnKey]:
    """The keys whose checkpoints are ``org``'s own: every signing key the ledger (``state``)
    records for ``org``, active or retired, and every key this member holds in its key files
    (``held``: in force, next, retired), which a store rolled back to before a rotation does not
    list. Never a key the ledger marks compromised: whoever holds it could sign a checkpoint
    that raises our record and suspends our releases. A retired key is bounded (``OwnKey``)."""
    record = member(state, org)
    rows = {} if record is None else {k.kid: k for k in record.signing_keys}
    found: dict[Kid, OwnKey] = {}
    for kid, public in held.items():
        if kid not in rows:
            found[kid] = OwnKey(public)
    for kid, row in rows.items():
        if row.compromised or row.alg != ES256:
            continue
        try:
            public = load_public_key_b64(row.pub)
        except KeyFormatError:
            continue
        found[kid] = OwnKey(public, None if row.is_active else row.retired_index)
    return found


async def own_latest(
    stream: Ordering,
    org: OrgId,
    keys: Mapping[Kid, OwnKey],
    consortium: ConsortiumId,
    backlog: int = BACKLOG,
) -> Checkpoint | None:
    """The highest checkpoint ``org`` signed with one of ``keys`` (``own_keys``) among the
    stream's last ``backlog`` messages, each verified under the key its kid names: nobody else's
    message can raise our watermark."""
    last = await stream.last_position()
    best: Checkpoint | None = None
    if last == 0:
        return None
    reader = cast(AsyncGenerator[Ordered, None], stream.read(max(0, last - backlog)))
    async with contextlib.aclosing(reader) as messages:
        async for message in messages:
            with contextlib.suppress(CheckpointError):
                signed = decode_checkpoint(message.data)
                if _mine(signed, org, consortium, keys):
                    best = _higher(best, signed.cp)
            if message.position >= last:
                break
    return best


def _mine(
    signed: SignedCheckpoint, org: OrgId, consortium: ConsortiumId, keys: Mapping[Kid, OwnKey]
) -> bool:
    own = keys.get(signed.signature.kid) if signed.org == org else None
    if own is None or signed.cp.consortium != consortium or not own.covers(signed.cp):
        return False
    return verify(own.public, signed.cp.signed_bytes(), signed.signature.sig)


FinalSource = Callable[[], CosignedCheckpoint | None]


class RollbackGuard:
    """Holds the record, checks the store against it at start, raises it after every block.

    ``problem`` is None while the store is at or past everything this member vouched for; once a
    start-up check or a block finds the store behind or forked, it stays set until ``clear``.
    """

    def __init__(
        self,
        path: Path,
        consortium: ConsortiumId,
        record: Watermark,
        final: FinalSource = lambda: None,
    ) -> None:
        self.path = path
        self.consortium = consortium
        self.record = record
        self.problem: str | None = None
        self._final = final
        self._dirty = False
        self._writer: asyncio.Task[None] | None = None

    def check(self, store: BlockReads, head: BlockHeader) -> str | None:
        """Compare the store (head ``head``) with the record; sets and returns the problem."""
        for name, ref in (("signed", self.record.signed), ("cosigned", _cp(self.record.final))):
            if ref is None:
                continue
            found = compare(store, head, ref)
            if found.standing is Standing.BEHIND:
                self._raise(
                    f"the ledger store is behind the last checkpoint this member {name} (store "
                    f"at height {head.height}, checkpoint at height {ref.height}): restored or "
                    "rolled back"
                )
            elif found.standing is Standing.FORKED:
                self._raise(
                    f"the ledger store is forked from the last checkpoint this member {name}: "
                    f"{found.problem}"
                )
        return self.problem

    async def on_block(self, write: BlockWrite) -> None:
        """The committer's listener (after the checkpointer's): check and raise the record."""
        header = write.header
        signed = self.record.signed
        ours = Checkpoint.of(self.consortium, header)
        if signed is not None and header.height == signed.height and ours != signed:
            self._raise(
                f"the ledger store's block {header.height} differs from the one this member "
                f"signed ({signed.block_hash}): the store is forked"
            )
        raised = self.record.raised(ours, self._final())
        if raised != self.record:
            self.record = raised
            self._dirty = True
            if self._writer is None or self._writer.done():
                # In the background: the listeners after this one (caches, the member directory)
                # must not wait for a file write to learn of the block.
                self._writer = asyncio.create_task(self._write(), name="watermark-writer")

    async def flush(self) -> None:
        """Wait until the record file holds the latest record (at stop, and in tests)."""
        if self._writer is not None:
            await self._writer

    async def _write(self) -> None:
        """Write the latest record until none is newer; blocks that arrive meanwhile coalesce.
        The file may lag the store by a write, never lead it: each record is taken after its
        block was durably committed."""
        while self._dirty:
            self._dirty = False
            try:
                await asyncio.to_thread(replace_private, self.path, self.record.encode())
            except OSError as exc:
                log.error("watermark record not written", extra={"error": str(exc)})
                return

    def clear(self, note: str) -> str | None:
        """An operator checked the store (``medgate ledger verify --against``); returns what was
        cleared. The record keeps its heights: a fork found later raises the alarm again."""
        cleared, self.problem = self.problem, None
        if cleared is not None:
            log.warning("rollback alarm cleared by operator", extra={"note": note})
        return cleared

    def _raise(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem
            log.error("ledger store rollback", extra={"problem": problem})


def _cp(final: CosignedCheckpoint | None) -> Checkpoint | None:
    return None if final is None else final.cp
