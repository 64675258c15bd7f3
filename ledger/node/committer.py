"""The committer: reads the ordered stream, builds blocks, commits each in one store transaction.

Every gateway runs one. It trusts the ordering service to order, never to judge: each message is
validated here. Crash safety comes from the store: a block and the stream position it consumed
commit together, so after a crash the committer resumes after the last committed block and
rebuilds the same next block from the same messages (block building is deterministic).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from ledger.blockbuild import BlockBuilder
from ledger.blocks import BlockHeader
from ledger.entries import encode_cut, is_cut_marker
from ledger.errors import LedgerError, OrderingGapError
from ledger.ids import OrgId, TxId
from ledger.keyresolver import StateKeyResolver
from ledger.merkle import CompactTree, compact_range_ids
from ledger.node.speculation import Speculation
from ledger.node.statecache import CachedState
from ledger.ordering.base import Ordered, Ordering
from ledger.storage.base import BlockWrite, Store, StoredEntry

log = logging.getLogger("medgate.ledger.committer")

READ_AHEAD = 4096
"""Ordered messages read ahead of the block being committed (bounds the memory they take)."""

BlockListener = Callable[[BlockWrite], Awaitable[None]]


class Committer:
    """Follows the stream from the store's position and commits blocks as they close.

    ``cut_after`` bounds how long an entry waits in a partial block: past it, this gateway publishes
    a cut marker. All gateways use the same dedup key for a marker after a given position, so the
    stream carries at most one marker per position however many gateways notice the same batch.
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
        self._pending_since: float | None = None
        self._waiters: dict[TxId, list[asyncio.Future[StoredEntry]]] = {}
        self._listeners: list[BlockListener] = []
        self._stopped = asyncio.Event()
        self.failure: BaseException | None = None

    def _new_builder(self) -> BlockBuilder:
        head = self.store.head()
        if head is None:
            raise LedgerError("the store has no genesis block: bootstrap it first")
        frontier = CompactTree.from_nodes(
            head.tree_size, self.store.nodes(compact_range_ids(head.tree_size))
        )
        self._cache = CachedState(self.store)
        keys = StateKeyResolver(self._cache)
        self._speculation = Speculation(self._executor, keys)
        builder = BlockBuilder(head, frontier, self._cache, keys, mapper=self._speculation.map)
        builder.last_position = self.store.position()
        return builder

    def on_block(self, listener: BlockListener) -> None:
        self._listeners.append(listener)

    @property
    def head(self) -> BlockHeader:
        """The last block this node committed."""
        return self._builder.head

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
        """Consume until stopped. A gap or store conflict stops the node with ``failure`` set.

        A reader task reads ahead (bounded by ``READ_AHEAD``) and starts each entry's signature
        check as it arrives, so the pool verifies the next block while this one is applied and
        committed; the loop below feeds the builder in stream order.
        """
        queue: asyncio.Queue[Ordered] = asyncio.Queue(READ_AHEAD)
        reader = asyncio.create_task(self._read_ahead(queue))
        ticker = asyncio.create_task(self._tick())
        getter: asyncio.Future[Ordered] | None = None
        try:
            while not self._stopped.is_set():
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    reader.result()  # the reader ended: raise its error here
                    break
                message = getter.result()
                await self._consume(message.position, message.data)
        except (OrderingGapError, LedgerError) as exc:
            self.failure = exc
            log.error("ledger node stopped", extra={"error": str(exc)})
            raise
        finally:
            for task in (ticker, reader, getter):
                if task is None:
                    continue
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _read_ahead(self, queue: asyncio.Queue[Ordered]) -> None:
        async for message in self.ordering.read(self.store.position()):
            if not is_cut_marker(message.data):
                self._speculation.start(message.data)
            await queue.put(message)

    def stop(self) -> None:
        self._stopped.set()

    async def _consume(self, position: int, data: bytes) -> None:
        builder = self._builder
        closes = is_cut_marker(data) or builder.pending + 1 >= builder.max_entries
        if not closes:
            builder.feed(position, data)
            if self._pending_since is None:
                self._pending_since = self._monotonic()
            return
        write = await asyncio.to_thread(builder.feed, position, data)
        if write is None:
            return
        try:
            await asyncio.to_thread(self.store.append, write)
        except BaseException:
            # The builder's Merkle frontier already moved: this node must restart from its store.
            self._speculation.reset()
            raise
        builder.committed(write)
        self._cache.committed(write.changes)
        self._pending_since = None if builder.pending == 0 else self._monotonic()
        self._notify(write)
        for listener in self._listeners:
            await listener(write)

    def _notify(self, write: BlockWrite) -> None:
        for entry in write.entries:
            for future in self._waiters.pop(entry.tx_id, []):
                if not future.done():
                    future.set_result(entry)

    async def _tick(self) -> None:
        """Publish a cut marker when the pending batch is older than ``cut_after``."""
        while True:
            await asyncio.sleep(self._cut_after / 2)
            since = self._pending_since
            if since is None or self._monotonic() - since < self._cut_after:
                continue
            after = self._builder.last_position
            try:
                await self.ordering.submit(encode_cut(self.org, after), f"cut:{after}")
            except LedgerError as exc:
                log.warning("cut marker not published", extra={"error": str(exc)})
            self._pending_since = self._monotonic()
