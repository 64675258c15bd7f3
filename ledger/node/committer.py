"""The committer: reads the ordered stream, builds blocks, commits each in one store transaction.

Every gateway runs one. It trusts the ordering service to order, never to judge: each message is
validated here. Crash safety comes from the store: a block and the stream position it consumed
commit together, so after a crash the committer resumes after the last committed block and
rebuilds the same next block from the same messages (block building is deterministic).

Four kinds of work run side by side:
- the event loop reads the stream ahead and starts each entry's signature check on the pool
  (``Speculation``), so signatures are verified while earlier blocks are still being committed;
- one build thread feeds the block builder in stream order, with no per-message event-loop round
  trip, and stages each block's state changes so the next block validates against them;
- one write thread appends the built blocks to the store, in order: the inserts and the fsync run
  there, outside the GIL, while the next block is being built;
- back on the loop, waiters and block listeners (checkpoints, caches) hear of each block in order,
  once it is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from ledger.blockbuild import BlockBuilder
from ledger.blocks import BlockHeader
from ledger.entries import encode_cut, is_cut_marker
from ledger.errors import LedgerError
from ledger.ids import OrgId, TxId
from ledger.merkle import CompactTree, compact_range_ids
from ledger.node.speculation import Speculation
from ledger.node.statecache import CachedState
from ledger.ordering.base import Ordered, Ordering
from ledger.state import key_resolver
from ledger.storage.base import BlockWrite, Store, StoredEntry
from ledger.validation import ValidationCode

log = logging.getLogger("medgate.ledger.committer")

READ_AHEAD = 8
"""Batches of ordered messages read ahead of the block being built. Bounds their memory, and the
decoded entries the garbage collector walks on every collection: ahead by much more than a block,
the collections cost more than the reading ahead gains."""
BATCH = 256
"""Messages handed to the build thread at a time, at most."""
WRITE_AHEAD = 2
"""Blocks built ahead of the one being written (bounds the state held staged)."""

_FAULT = int(ValidationCode.VALIDATOR_FAULT)

BlockListener = Callable[[BlockWrite], Awaitable[None]]
_STOP = None


class Committer:
    """Follows the stream from the store's position and commits blocks as they close.

    ``cut_after`` bounds how long an entry waits in a partial block: that long after the block's
    first entry was read, this gateway publishes a cut marker. The marker's dedup key names the
    stream position that closed the previous block, which every gateway agrees on, so the stream
    carries one marker per block however many gateways notice it (a key per gateway's read
    position let every gateway cut its own, smaller, blocks).
    """

    def __init__(
        self,
        org: OrgId,
        store: Store,
        ordering: Ordering,
        *,
        executor: ThreadPoolExecutor,
        cut_after: float = 0.05,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.org = org
        self.store = store
        self.ordering = ordering
        self._executor = executor
        self._cut_after = cut_after
        self._monotonic = monotonic
        self._builder = self._new_builder()
        self._pending: tuple[int, float] | None = None
        """(position that closed the last block, when an entry after it was first read) while a
        block is pending, else None. Written by the build thread as one tuple, so the ticker
        never pairs a boundary with another block's entries."""
        self._armed = asyncio.Event()
        self._waiters: dict[TxId, list[asyncio.Future[StoredEntry]]] = {}
        self._listeners: list[BlockListener] = []
        self._inbox: queue.Queue[list[Ordered] | None] = queue.Queue()
        self._writes: queue.Queue[BlockWrite | None] = queue.Queue(maxsize=WRITE_AHEAD)
        self._durable = self._builder.head
        self._durable_position = self._builder.last_position
        # (position, height): every entry read up to ``position`` is in a block up to ``height``.
        self._quiet = (self._builder.last_position, self._builder.head.height)
        self._blocks: asyncio.Queue[BlockWrite] = asyncio.Queue()
        self.failure: BaseException | None = None
        self.validator_faults = 0
        """Entries this node committed with VALIDATOR_FAULT since it started (a metric)."""
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """End ``run`` cleanly after the block being committed (if any) is committed."""
        self._stopping.set()

    def _new_builder(self) -> BlockBuilder:
        head = self.store.head()
        if head is None:
            raise LedgerError("the store has no genesis block: bootstrap it first")
        frontier = CompactTree.from_nodes(
            head.tree_size, self.store.nodes(compact_range_ids(head.tree_size))
        )
        self._cache = CachedState(self.store)
        keys = key_resolver(self._cache)
        self._speculation = Speculation(self._executor, keys)
        builder = BlockBuilder(head, frontier, self._cache, keys, mapper=self._speculation.map)
        builder.last_position = self.store.position()
        return builder

    def on_block(self, listener: BlockListener) -> None:
        self._listeners.append(listener)

    @property
    def head(self) -> BlockHeader:
        """The last block this node committed durably (blocks built after it are still being
        written)."""
        return self._durable

    @property
    def read_position(self) -> int:
        """The last stream position consumed (cut markers included; the store's position moves
        only when a block commits)."""
        return self._builder.last_position

    @property
    def synced_position(self) -> int:
        """The last stream position of which every entry is in a durably committed block (cut
        markers with nothing to cut included): what this node has confirmed it holds. Unlike the
        store's position it also moves over trailing no-op markers, so an idle node catches up."""
        position, height = self._quiet
        durable = self._durable_position
        if self._durable.height >= height:
            return max(position, durable)
        return durable

    @property
    def pending(self) -> int:
        """Entries read but not yet in a durably committed block (those being cut included)."""
        return self._builder.read_size - self._durable.tree_size

    async def submit(self, leaf: bytes, tx_id: TxId) -> int:
        """Order ``leaf``; returns once the ordering service acknowledged it durably."""
        return await self.ordering.submit(leaf, tx_id)

    async def wait_committed(self, tx_id: TxId, timeout: float = 30.0) -> StoredEntry:
        """The committed entry for ``tx_id`` (valid or not), waiting until its block commits."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[StoredEntry] = loop.create_future()
        self._waiters.setdefault(tx_id, []).append(future)
        found = await asyncio.to_thread(self.store.entry_by_tx, tx_id)
        if found is not None and not future.done():
            future.set_result(found)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            waiters = self._waiters.get(tx_id, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self._waiters.pop(tx_id, None)

    async def run(self) -> None:
        """Consume until cancelled or stopped. A gap, a mismatch or a store failure stops the node: ``run``
        raises it and ``failure`` keeps it (the gateway then refuses to release data)."""
        loop = asyncio.get_running_loop()
        failed = asyncio.Event()
        workers = [
            threading.Thread(
                target=self._build_loop, args=(loop, failed), name=f"build-{self.org}", daemon=True
            ),
            threading.Thread(
                target=self._write_loop, args=(loop, failed), name=f"write-{self.org}", daemon=True
            ),
        ]
        for worker in workers:
            worker.start()
        tasks = [
            asyncio.create_task(self._read_ahead()),
            asyncio.create_task(self._announce()),
            asyncio.create_task(self._tick()),
            asyncio.create_task(failed.wait()),
            asyncio.create_task(self._stopping.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # the reader's error, if it failed
            if self.failure is not None:
                raise self.failure
        except LedgerError as exc:
            self.failure = self.failure or exc
            log.error("ledger node stopped", extra={"error": str(exc)})
            raise
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, LedgerError):
                    await task
            self._inbox.put(_STOP)
            for worker in workers:
                await asyncio.to_thread(worker.join)
            self._speculation.reset()

    async def _read_ahead(self) -> None:
        """Read the stream, decode and start checking each entry, and pass messages to the build
        thread in batches: whatever arrived before the reader next waits goes over as one."""
        loop = asyncio.get_running_loop()
        batch: list[Ordered] = []

        def hand_over() -> None:
            nonlocal batch
            self._speculation.flush()
            if batch:
                self._inbox.put(batch)
                batch = []

        async for message in self.ordering.read(self.store.position()):
            if not is_cut_marker(message.data):
                self._speculation.start(message.data)
            if not batch:  # runs once the reader awaits, after the rest of the read batch
                loop.call_soon(hand_over)
            batch.append(message)
            if len(batch) >= BATCH:
                hand_over()
            while self._inbox.qsize() > READ_AHEAD:
                await asyncio.sleep(0.002)

    def _build_loop(self, loop: asyncio.AbstractEventLoop, failed: asyncio.Event) -> None:
        """The build thread: feed and cut in stream order; stage each block, hand it to the writer."""
        builder = self._builder
        boundary = builder.last_position
        try:
            while (batch := self._inbox.get()) is not _STOP:
                for message in batch:
                    write = builder.feed(message.position, message.data)
                    if write is not None:
                        boundary, self._pending = message.position, None
                        self._cache.staged(write.changes, write.header.height)
                        builder.committed(write)
                        self._hand_over(write)
                        if self.failure is not None:
                            return
                if not builder.pending:
                    self._pending = None
                    self._quiet = (builder.last_position, builder.head.height)
                elif self._pending is None:
                    self._pending = (boundary, self._monotonic())
                    loop.call_soon_threadsafe(self._armed.set)
        except BaseException as exc:  # the builder failed: stop, never skip a block
            self._fail(exc, loop, failed)
        finally:
            self._hand_over(_STOP)

    def _hand_over(self, write: BlockWrite | None) -> None:
        """Queue ``write`` for the writer; gives up once the node has failed (the writer is gone)."""
        while self.failure is None:
            try:
                self._writes.put(write, timeout=0.05)
                return
            except queue.Full:
                continue

    def _write_loop(self, loop: asyncio.AbstractEventLoop, failed: asyncio.Event) -> None:
        """The write thread: append blocks in order; each is announced only once it is durable."""
        try:
            while (write := self._next_write()) is not _STOP:
                self.store.append(write)
                self.validator_faults += sum(e.code == _FAULT for e in write.entries)
                self._cache.flushed(write.changes, write.header.height)
                self._durable_position = write.position
                self._durable = write.header
                loop.call_soon_threadsafe(self._blocks.put_nowait, write)
        except BaseException as exc:  # the store failed: stop, never skip a block
            self._fail(exc, loop, failed)

    def _next_write(self) -> BlockWrite | None:
        """The next block to write, or None at the end (or once the builder has failed)."""
        while self.failure is None:
            try:
                return self._writes.get(timeout=0.05)
            except queue.Empty:
                continue
        return _STOP

    def _fail(
        self, exc: BaseException, loop: asyncio.AbstractEventLoop, failed: asyncio.Event
    ) -> None:
        self.failure = self.failure or (
            exc if isinstance(exc, LedgerError) else LedgerError(repr(exc))
        )
        loop.call_soon_threadsafe(failed.set)

    async def _announce(self) -> None:
        """Tell waiters and listeners about each committed block, in commit order."""
        while True:
            write = await self._blocks.get()
            for entry in write.entries:
                for future in self._waiters.pop(entry.tx_id, []):
                    if not future.done():
                        future.set_result(entry)
            for listener in self._listeners:
                await listener(write)

    async def _tick(self) -> None:
        """Publish a cut marker once the pending block is ``cut_after`` old: woken by the build
        thread when a block starts pending, then asleep until exactly its deadline.

        The key ``cut:{boundary}`` is safe to share: this node saw an entry after ``boundary``
        pending, so that entry precedes the marker in the stream, and the marker cuts the block
        after ``boundary`` unless that block was closed otherwise first (then it is harmless, and
        that boundary's key is never needed again). Publishing again after ``cut_after`` only
        matters if the first publish failed: within the dedup window the stream drops it."""
        sent: tuple[int, float] | None = None
        while True:
            pending = self._pending
            if pending is None:
                self._armed.clear()
                if self._pending is None:  # a block that started pending since sets it again
                    await self._armed.wait()
                continue
            boundary, since = pending
            if sent is not None and sent[0] == boundary:
                since = max(since, sent[1])
            wait = since + self._cut_after - self._monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            try:
                await self.ordering.submit(encode_cut(self.org, boundary), f"cut:{boundary}")
            except LedgerError as exc:
                log.warning("cut marker not published", extra={"error": str(exc)})
            sent = (boundary, self._monotonic())
