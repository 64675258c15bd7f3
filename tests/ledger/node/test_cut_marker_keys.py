"""Cut markers: one per block, however many gateways follow the stream. A node keys its marker by the
stream position that closed the previous block, which every gateway agrees on, so the markers of
gateways noticing the same pending block are one message of the stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

from ledger.blockbuild import genesis_block
from ledger.entries import decode_cut, encode_cut
from ledger.ids import OrgId
from ledger.node.committer import Committer
from ledger.ordering.base import Ordered
from ledger.ordering.solo import SoloOrdering
from ledger.state.membership import key_resolver
from ledger.statekv import MemoryState
from ledger.storage.sql import SqlStore
from tests.ledger.core.world import AGENCY, HOSPITAL, INSURER, World, access_body, three_orgs

CUT_AFTER = 0.02


async def _until(check: Callable[[], bool]) -> None:
    for _ in range(1500):  # x 10 ms
        if check():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("condition not reached")


@asynccontextmanager
async def node(
    folder: Path, genesis: bytes, org: OrgId, pool: ThreadPoolExecutor
) -> AsyncIterator[tuple[Committer, SqlStore]]:
    """A gateway's committer on its own store, following the shared solo stream."""
    folder.mkdir()
    store = SqlStore(f"sqlite:///{folder / 'ledger.db'}")
    store.append(genesis_block(genesis, key_resolver(MemoryState())))
    ordering = SoloOrdering(folder.parent / "ordering.db")
    committer = Committer(org, store, ordering, executor=pool, cut_after=CUT_AFTER)
    run = asyncio.create_task(committer.run())
    try:
        yield committer, store
    finally:
        committer.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(run, 10)
        await ordering.close()
        store.close()


def entries(world: World, count: int) -> list[tuple[bytes, str]]:
    leaves = [world.entry("access.record", HOSPITAL, access_body()) for _ in range(count)]
    return [(leaf, f"entry-{n}") for n, leaf in enumerate(leaves)]


async def test_a_marker_names_the_block_not_the_reader_position(tmp_path: Path) -> None:
    world, chain = three_orgs()
    stream = SoloOrdering(tmp_path / "ordering.db")
    first, second = entries(world, 3), entries(world, 5)[3:]
    # A block closed at position 4 by another gateway's marker, then two entries pending.
    await stream.submit_many([*first, (encode_cut(INSURER, 3), "cut:other-gateway")])
    await stream.submit_many(second)
    with ThreadPoolExecutor(2) as pool:
        async with node(tmp_path / "a", chain.leaves[0], HOSPITAL, pool) as (committer, _):
            await _until(lambda: committer.head.height == 2)
            assert committer.head.count == 2
    marker = (await _read(stream, 6))[-1]
    cut = decode_cut(marker.data)
    assert marker.position == 7
    assert cut is not None
    assert cut.after == 4  # the position that closed the previous block, not the last one read
    # Another gateway that noticed the same pending block orders nothing new.
    assert await stream.submit(encode_cut(AGENCY, 4), "cut:4") == 7
    await stream.close()


async def test_three_gateways_publish_one_marker_per_block(tmp_path: Path) -> None:
    world, chain = three_orgs()
    stream = SoloOrdering(tmp_path / "ordering.db")
    items = entries(world, 60)
    with ThreadPoolExecutor(2) as pool:
        async with (
            node(tmp_path / "a", chain.leaves[0], HOSPITAL, pool) as (a, store),
            node(tmp_path / "b", chain.leaves[0], INSURER, pool) as (b, _),
            node(tmp_path / "c", chain.leaves[0], AGENCY, pool) as (c, _),
        ):
            for item in items:  # a trickle: blocks close by markers while entries still arrive
                await stream.submit(*item)
                await asyncio.sleep(0.004)
            await _until(lambda: all(n.head.tree_size == 1 + len(items) for n in (a, b, c)))
            heights = {n.head.height for n in (a, b, c)}
            closed_at = [pos for _, _, pos in store.iter_blocks()]
    cuts = [(m.position, decode_cut(m.data)) for m in await _read(stream, 0)]
    markers = [(position, cut.after) for position, cut in cuts if cut is not None]
    # Each marker names the position that closed the block before the one it closes: none is a
    # second marker for a block another gateway already asked to close, none is a no-op.
    assert [after for _, after in markers] == closed_at[:-1]
    assert [position for position, _ in markers] == closed_at[1:]
    assert heights == {len(markers)}
    await stream.close()


async def _read(stream: SoloOrdering, after: int) -> list[Ordered]:
    """Everything in the stream after ``after`` (bounded: the stream is idle by now)."""
    last = await stream.last_position()
    out: list[Ordered] = []
    # SoloOrdering.read is an async generator (typed as the protocol's AsyncIterator): close it.
    reader = cast("AsyncGenerator[Ordered, None]", stream.read(after))
    async with contextlib.aclosing(reader) as messages:
        async for message in messages:
            out.append(message)
            if message.position == last:
                break
    return out
