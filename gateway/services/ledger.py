"""The member's ledger node inside the gateway: its store, its ordering client, its committer, and
the writer that signs this member's own entries.

Audit before release (ARCHITECTURE.md section 1.2) rests on ``record``: it returns once the ordering
service has durably acknowledged the entry (while this member's own signing-key rotation is pending:
once its node committed it, see ``record``), and ``record_committed`` once this member's own node has
also validated and committed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.errors import UnavailableError
from gateway.identity.signing_ring import PeerKey, SigningRing, peer_key
from gateway.services.directory import block_ts_of
from ledger.blockbuild import genesis_block
from ledger.entries import make_tx, nonce_from_bytes, signed_entry
from ledger.errors import GenesisError, OrderingError
from ledger.ids import Kid, OrgId, TxId
from ledger.node.committer import BlockListener, Committer
from ledger.ordering.base import Ordering
from ledger.signing import kid_of
from ledger.state import key_resolver, member
from ledger.state import namespaces as ns
from ledger.statekv import MemoryState
from ledger.storage.base import BlockWrite, Store, StoredEntry
from ledger.validation.codes import ValidationCode

Rekeyed = Callable[[ec.EllipticCurvePrivateKey], None]
SWITCH_WAIT_S = 5.0
"""How long ``record_committed`` waits for the key switch after a KEY_RETIRED of its own entry."""
SWITCH_POLL_S = 0.005
RETIRING_COMMIT_WAIT_S = 10.0
"""How long ``record`` waits for its entry's commit while the node's key may be retired by this
member's pending rotation (past the staleness bound, releases would be refused anyway)."""
log = logging.getLogger("medgate.gateway.ledger")


class GroupSubmitter:
    """Group commit: the entries submitted within one event-loop tick, and those that arrive while
    a batch is being ordered, go to the ordering service as one ``submit_many`` (solo: one SQLite
    transaction and one fsync instead of one each). Each caller still awaits its own durable
    acknowledgement, so audit before release holds per entry; the dedup key stays the tx_id."""

    def __init__(self, ordering: Ordering) -> None:
        self._ordering = ordering
        self._pending: list[tuple[bytes, TxId, asyncio.Future[int]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, leaf: bytes, tx_id: TxId) -> int:
        """The entry's position once the ordering service acknowledged it durably."""
        acked: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((leaf, tx_id, acked))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="ledger-group-commit")
        return await acked

    async def drain(self) -> None:
        """Wait for the batches in flight (at stop: their callers get their acks or errors)."""
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # one tick: let the callers already scheduled join this batch
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                positions = await self._ordering.submit_many([(leaf, tx) for leaf, tx, _ in batch])
                if len(positions) != len(batch):
                    raise OrderingError("the ordering service acked a different number of entries")
            except asyncio.CancelledError:  # stopping: nobody of this batch or the next is acked
                batch, self._pending = batch + self._pending, []
                _fail(batch, None)
                raise
            except Exception as exc:  # every waiter of the batch learns of the failure
                _fail(batch, exc)
                continue
            for (_, _, acked), position in zip(batch, positions, strict=True):
                if not acked.done():
                    acked.set_result(position)


def _fail(batch: list[tuple[bytes, TxId, asyncio.Future[int]]], exc: Exception | None) -> None:
    """Fail the waiters of ``batch`` with ``exc``, or cancel them when it is None."""
    for _, _, acked in batch:
        if acked.done():
            continue
        if exc is None:
            acked.cancel()
        else:
            acked.set_exception(exc)


@dataclass(frozen=True, slots=True)
class Recorded:
    tx_id: TxId
    position: int
    leaf: bytes


def bootstrap(store: Store, genesis_leaf: bytes) -> None:
    """Commit block 0 from the consortium's genesis, or check that the store already holds it."""
    head = store.head()
    if head is None:
        store.append(genesis_block(genesis_leaf, key_resolver(MemoryState())))
        return
    first = store.entries(0, 1)
    if not first or first[0].leaf != genesis_leaf:
        raise GenesisError("this ledger store belongs to another consortium's genesis")


class LedgerService:
    """One member's node. ``start`` bootstraps and follows the stream; ``stop`` ends it cleanly."""

    def __init__(
        self,
        org: OrgId,
        signing_key: ec.EllipticCurvePrivateKey,
        store: Store,
        ordering: Ordering,
        genesis_leaf: bytes,
        *,
        clock_ms: Callable[[], int],
        cut_after: float = 0.05,
        workers: int | None = None,
        keyring: SigningRing | None = None,
        peer_grace_ms: int = 0,
    ) -> None:
        """``keyring``: follow rotations (see ``_follow_keys``); ``peer_grace_ms``: how long after
        the block that retired a key peers still get it (``peer_signer``)."""
        self.org = org
        self.kid = kid_of(signing_key.public_key())
        self._key = signing_key
        self.store = store
        self.ordering = ordering
        self._genesis = genesis_leaf
        self._clock_ms = clock_ms
        self._cut_after = cut_after
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sigcheck")
        self._committer: Committer | None = None
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[BlockListener] = []
        self._submitter = GroupSubmitter(ordering)
        self._keyring = keyring
        self._rekeyed: list[Rekeyed] = []
        self._peer_grace_ms = peer_grace_ms
        self._peer: tuple[ec.EllipticCurvePrivateKey, PeerKey] | None = None

    @property
    def signing_key(self) -> ec.EllipticCurvePrivateKey:
        """The key this member signs with now (it changes when a rotation commits)."""
        return self._key

    @property
    def peer_signer(self) -> tuple[ec.EllipticCurvePrivateKey, Kid]:
        """The key (and kid) for what peers verify against the member registry: peer assertions
        and envelope signatures. After a rotation, the retired key until the retiring block's ts
        plus the grace (half the overlap): a peer that has not committed that block yet does not
        know the new key, and one that has accepts the old key for the whole overlap; past the
        grace every peer has had time to commit it (``signing_ring.peer_key``, which also covers
        ``--keep-old`` and compromised keys). That time is read from committed state, so a
        restarted node and every replica switch at the same moment of ``clock_ms``. Read both
        from one call: they match."""
        peer = self._peer
        if peer is not None:
            key, held = peer
            if held.until_ms is None or self._clock_ms() < held.until_ms:
                return key, held.kid
        return self._key, self.kid

    def on_rekey(self, listener: Rekeyed) -> None:
        """Call ``listener`` with the new key whenever the member switches signing keys."""
        self._rekeyed.append(listener)

    def rekey(self, key: ec.EllipticCurvePrivateKey) -> None:
        """Sign from now on with ``key``; the listeners (checkpointer, ...) switch with it."""
        self._key, self.kid = key, kid_of(key.public_key())
        for listener in self._rekeyed:
            listener(key)

    def _keys_from_state(
        self,
    ) -> tuple[
        ec.EllipticCurvePrivateKey | None, tuple[ec.EllipticCurvePrivateKey, PeerKey] | None
    ]:
        """(the key to switch to or None, the held key peers still get and until when).
        Worker thread: reads key files and committed state, changes nothing on the loop."""
        ring = self._keyring
        assert ring is not None  # noqa: S101 - only called with a keyring
        ring.reload()
        record = member(self.store, self.org)
        if record is None:
            return None, None
        chosen = ring.choose(record.active_kids())
        peer = peer_key(record, ring.kid, ring.held, block_ts_of(self.store), self._peer_grace_ms)
        key = None if peer is None else ring.held_key(peer.kid)
        return chosen, None if peer is None or key is None else (key, peer)

    async def _follow_keys(self, write: BlockWrite | None) -> None:
        """Switch keys when a committed block changed this member's record (or at start). Runs
        as the node's first block listener, so the checkpoint of the very block that rotated the
        key is signed with the new one (the electorate of that height knows only the new one).

        The peer key is derived again at the same moments: a cache of committed state keyed by
        this member's record, which only such a block changes (each replica derives it from its
        own node's state, a restarted node at start: all the same key at the same time)."""
        if self._keyring is None:
            return
        if write is not None and not any(
            c.ns == ns.MEMBERS and c.key == self.org for c in write.changes
        ):
            return
        chosen, self._peer = await asyncio.to_thread(self._keys_from_state)
        if chosen is not None:
            self.rekey(chosen)

    @property
    def clock_ms(self) -> Callable[[], int]:
        """The member's one clock (ms since the epoch): entries' ts, decisions, archive times."""
        return self._clock_ms

    @property
    def committer(self) -> Committer:
        if self._committer is None:
            raise RuntimeError("the ledger service is not started")
        return self._committer

    @property
    def validator_faults(self) -> int:
        """Entries committed with VALIDATOR_FAULT since the node started (0 before it starts)."""
        return 0 if self._committer is None else self._committer.validator_faults

    def on_block(self, listener: BlockListener) -> None:
        self._listeners.append(listener)
        if self._committer is not None:
            self._committer.on_block(listener)

    async def start(self) -> None:
        await asyncio.to_thread(bootstrap, self.store, self._genesis)
        await self._follow_keys(None)
        committer = Committer(
            self.org, self.store, self.ordering, executor=self._executor, cut_after=self._cut_after
        )
        committer.on_block(self._follow_keys)
        for listener in self._listeners:
            committer.on_block(listener)
        self._committer = committer
        self._task = asyncio.create_task(committer.run(), name=f"ledger-node-{self.org}")

    @property
    def failure(self) -> BaseException | None:
        if self._task is not None and self._task.done() and not self._task.cancelled():
            return self._task.exception()
        return None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._submitter.drain()
        await self.ordering.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.store.close()

    def sign(
        self,
        type_: str,
        body: Mapping[str, Any],
        endorsers: Mapping[OrgId, ec.EllipticCurvePrivateKey] | None = None,
        ts: int | None = None,
    ) -> tuple[TxId, bytes]:
        """A new signed entry of this member (fresh nonce). ``ts`` defaults to now; an
        ``access.record`` passes its decision's time, so that a replay decides at the same moment."""
        nonce = nonce_from_bytes(secrets.token_bytes(16))
        when = self._clock_ms() if ts is None else ts
        tx = make_tx(type_, self.org, self.kid, when, nonce, body)
        return signed_entry(tx, self._key, endorsers)

    async def record(self, type_: str, body: Mapping[str, Any], **kw: Any) -> Recorded:
        """Sign and order an entry; returns once the ordering service acknowledged it durably.

        While this member's own pending rotation may retire the key the node signs with (a next
        key file exists and the node does not sign with that key yet), it returns only once the
        node committed the entry: if the rotation retired its key while it was in flight
        (KEY_RETIRED: it changed nothing), the entry is signed again with the new key and
        ordered again, and that one (another tx id) is returned, so the caller names the entry
        that reaches state (a release's access tx, which the client looks up and replays).
        Raises UnavailableError when the node does not commit it within
        RETIRING_COMMIT_WAIT_S (nothing must be released then)."""
        if not self._key_may_retire():
            return await self._record(type_, body, kw)
        kid = self.kid  # ``_record`` signs before its first await: with this key
        recorded = await self._record(type_, body, kw)
        try:
            entry = await self.committer.wait_committed(recorded.tx_id, RETIRING_COMMIT_WAIT_S)
        except TimeoutError as exc:
            raise UnavailableError(
                "the ledger node did not commit this member's entry in time during a rotation of "
                "its signing key"
            ) from exc
        if entry.code != ValidationCode.KEY_RETIRED or not await self._switched_from(
            kid, SWITCH_WAIT_S
        ):
            return recorded
        again = await self._record(type_, body, kw)
        log.info(
            "entry signed again after a key rotation",
            extra={"type": type_, "retired_tx": recorded.tx_id, "tx": again.tx_id},
        )
        return again

    def _key_may_retire(self) -> bool:
        """Whether an entry signed now may be committed KEY_RETIRED by this member's own pending
        rotation: a next key file exists (looked at once a second at most) and the node does
        not sign with it yet. From the commit that makes it active on, entries carry it."""
        ring = self._keyring
        return ring is not None and ring.rotation_pending() and ring.next_kid != self.kid

    async def _record(self, type_: str, body: Mapping[str, Any], kw: Mapping[str, Any]) -> Recorded:
        tx_id, leaf = self.sign(type_, body, **kw)
        position = await self._submitter.submit(leaf, tx_id)
        return Recorded(tx_id, position, leaf)

    async def record_committed(
        self, type_: str, body: Mapping[str, Any], timeout: float = 30.0, **kw: Any
    ) -> StoredEntry:
        """Sign, order, and wait until this member's node committed it (valid or not).

        An entry signed with a key that the member's own rotation retired while it was in flight
        is committed KEY_RETIRED and changes nothing: it is signed again, once, with the key the
        node switched to (a new nonce: another tx), and that one's outcome is returned."""
        kid = self.kid  # ``_record`` signs before its first await: with this key
        recorded = await self._record(type_, body, kw)
        entry = await self.committer.wait_committed(recorded.tx_id, timeout)
        if entry.code != ValidationCode.KEY_RETIRED or self._keyring is None:
            return entry
        if not await self._switched_from(kid, min(timeout, SWITCH_WAIT_S)):
            return entry  # retired by someone else's update, and no key of ours is active
        recorded = await self._record(type_, body, kw)
        return await self.committer.wait_committed(recorded.tx_id, timeout)

    async def _switched_from(self, kid: Kid, timeout: float) -> bool:
        """Whether the node signs with another key than ``kid`` within ``timeout`` seconds (the
        block listener that switches runs just after the waiters of that block are answered)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.kid == kid:
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(SWITCH_POLL_S)
        return True

    async def submit_leaf(self, leaf: bytes, tx_id: TxId) -> int:
        return await self.ordering.submit(leaf, tx_id)


def read_genesis(path: Path) -> bytes:
    return path.read_bytes()
