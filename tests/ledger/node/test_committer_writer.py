"""The committer's write thread: blocks become visible only once durable, in order, and a store that
fails mid-stream stops the node without announcing, or skipping, the block it could not write."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ledger.blockbuild import genesis_block
from ledger.entries import encode_cut
from ledger.errors import LedgerError, StorageError
from ledger.node.committer import Committer
from ledger.ordering.solo import SoloOrdering
from ledger.state.membership import key_resolver
from ledger.statekv import MemoryState
from ledger.storage.base import BlockWrite
from ledger.storage.sql import SqlStore
from ledger.validation import Prepared, ValidationCode
from tests.ledger.core.world import HOSPITAL, access_body, three_orgs


class _FailingStore(SqlStore):
    """A real SQLite store that refuses to write the block at ``fail_at`` (a full disk, say)."""

    fail_at = 10**9

    def append(self, block: BlockWrite) -> None:
        if block.header.height == self.fail_at:
            raise StorageError("disk full")
        super().append(block)


async def _run_stream(
    tmp_path: Path, fail_at: int, blocks: int
) -> tuple[_FailingStore, Committer, list[int]]:
    world, chain = three_orgs()
    store = _FailingStore(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.fail_at = fail_at
    store.append(genesis_block(chain.leaves[0], key_resolver(MemoryState())))
    ordering = SoloOrdering(tmp_path / "ordering.db")
    for b in range(blocks):
        leaves = [world.entry("access.record", HOSPITAL, access_body()) for _ in range(5)]
        await ordering.submit_many([(leaf, f"b{b}e{i}") for i, leaf in enumerate(leaves)])
        await ordering.submit(encode_cut(HOSPITAL, 0), f"cut{b}")
    with ThreadPoolExecutor(2) as pool:
        committer = Committer(HOSPITAL, store, ordering, executor=pool, cut_after=3600)
        announced: list[int] = []

        async def listen(write: BlockWrite) -> None:
            # The store holds every block a listener hears of.
            assert store.block(write.header.height) is not None
            announced.append(write.header.height)

        committer.on_block(listen)
        run = asyncio.create_task(committer.run())
        for _ in range(500):
            if run.done() or committer.head.height == blocks:
                break
            await asyncio.sleep(0.01)
        committer.stop()
        with contextlib.suppress(LedgerError):
            await asyncio.wait_for(run, 10)
    await ordering.close()
    return store, committer, announced


async def test_every_block_is_written_then_announced_in_order(tmp_path: Path) -> None:
    store, committer, announced = await _run_stream(tmp_path, fail_at=10**9, blocks=6)
    assert committer.failure is None
    assert announced == [1, 2, 3, 4, 5, 6]
    assert committer.head == store.head()
    assert all(e.code == ValidationCode.VALID for e in store.entries(1, 30))
    assert committer.pending == 0
    store.close()


async def test_a_failed_write_stops_the_node_at_that_block(tmp_path: Path) -> None:
    store, committer, announced = await _run_stream(tmp_path, fail_at=3, blocks=6)
    assert isinstance(committer.failure, StorageError)
    head = store.head()
    assert head is not None
    assert head.height == 2  # nothing at or past the failed block
    assert committer.head.height == 2
    assert announced == [1, 2]
    store.close()


async def test_entries_being_cut_into_a_block_still_count_as_pending(tmp_path: Path) -> None:
    """``pending`` counts an entry from when the node reads it until its block is durable, with no
    gap while the build thread validates the block: the entries have left the builder's pending
    list by then, and no block holds them yet."""
    world, chain = three_orgs()
    store = SqlStore(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.append(genesis_block(chain.leaves[0], key_resolver(MemoryState())))
    ordering = SoloOrdering(tmp_path / "ordering.db")
    leaves = [world.entry("access.record", HOSPITAL, access_body()) for _ in range(5)]
    await ordering.submit_many([(leaf, f"e{i}") for i, leaf in enumerate(leaves)])
    await ordering.submit(encode_cut(HOSPITAL, 0), "cut")
    cutting, release = threading.Event(), threading.Event()
    with ThreadPoolExecutor(2) as pool:
        committer = Committer(HOSPITAL, store, ordering, executor=pool, cut_after=3600)
        mapper = committer._builder.mapper

        def held(fn: Callable[[bytes], Prepared], raws: Iterable[bytes]) -> Iterator[Prepared]:
            cutting.set()  # the build thread is inside the cut, before any entry is validated
            release.wait(10)
            return mapper(fn, raws)

        committer._builder.mapper = held
        run = asyncio.create_task(committer.run())
        try:
            assert await asyncio.to_thread(cutting.wait, 10)
            assert committer.pending == 5
        finally:
            release.set()
        for _ in range(500):  # bounded: at most ~5 s
            if committer.head.tree_size == 6 or run.done():
                break
            await asyncio.sleep(0.01)
        assert (committer.head.tree_size, committer.pending) == (6, 0)
        committer.stop()
        await asyncio.wait_for(run, 10)
    await ordering.close()
    store.close()
