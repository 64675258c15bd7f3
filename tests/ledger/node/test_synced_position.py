"""Committer.synced_position: the last stream position whose every entry is durably committed. It
moves over trailing no-op cut markers (an idle log is confirmed without a new block) and never past
an entry that is read but not yet in a durable block."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ledger.blockbuild import genesis_block
from ledger.entries import encode_cut
from ledger.node.committer import Committer
from ledger.ordering.solo import SoloOrdering
from ledger.state.membership import key_resolver
from ledger.statekv import MemoryState
from ledger.storage.sql import SqlStore
from tests.ledger.core.world import HOSPITAL, access_body, three_orgs


async def _until(check: Callable[[], bool]) -> None:
    for _ in range(1000):  # x 10 ms
        if check():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("condition not reached")


async def test_synced_position_follows_blocks_and_idle_markers_but_not_pending_entries(
    tmp_path: Path,
) -> None:
    world, chain = three_orgs()
    store = SqlStore(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.append(genesis_block(chain.leaves[0], key_resolver(MemoryState())))
    ordering = SoloOrdering(tmp_path / "ordering.db")
    with ThreadPoolExecutor(2) as pool:
        # cut_after of an hour: only the markers this test publishes cut blocks.
        committer = Committer(HOSPITAL, store, ordering, executor=pool, cut_after=3600)
        run = asyncio.create_task(committer.run())
        try:
            leaves = [world.entry("access.record", HOSPITAL, access_body()) for _ in range(3)]
            await ordering.submit_many([(leaf, f"e{i}") for i, leaf in enumerate(leaves)])
            await _until(lambda: committer.read_position == 3)
            # Read, not yet in a block: not confirmed.
            assert committer.synced_position == 0
            await ordering.submit(encode_cut(HOSPITAL, 3), "cut:3")
            await _until(lambda: committer.synced_position == 4)
            assert store.position() == 4
            # Markers with nothing pending make no block; the position still moves over them.
            await ordering.submit(encode_cut(HOSPITAL, 4), "cut:4")
            await ordering.submit(encode_cut(HOSPITAL, 5), "cut:5")
            await _until(lambda: committer.synced_position == 6)
            assert store.position() == 4
            assert committer.head.height == 1
        finally:
            committer.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(run, 10)
    await ordering.close()
    store.close()
