"""Crash servers of a real cluster mid-write: no acknowledged entry is lost or ordered twice."""

from __future__ import annotations

import asyncio

import pytest

from ledger.errors import OrderingError
from ledger.ordering.base import Ordered
from ledger.ordering.nats import NatsOptions, NatsOrdering
from tests.ledger.ordering_nats.conftest import FAST
from tests.support.nats_cluster import NatsCluster

pytestmark = [pytest.mark.nats, pytest.mark.slow]

BATCHES = 8
BATCH = 150


def batch(index: int) -> list[tuple[bytes, str]]:
    return [(f"entry-{index}-{i}".encode(), f"tx-{index}-{i}") for i in range(BATCH)]


async def submit_batch(ordering: NatsOrdering, index: int, acked: dict[bytes, int]) -> None:
    """Submit batch ``index`` and note each entry's acknowledged position in ``acked``.
    Retrying a batch after a stall must not duplicate: the dedup key is stable."""
    items = batch(index)
    positions = await ordering.submit_many(items)
    acked.update({data: pos for (data, _), pos in zip(items, positions, strict=True)})


async def stream_leader(ordering: NatsOrdering) -> str:
    info = await ordering._nc.jetstream().stream_info(ordering.stream)
    assert info.cluster is not None
    assert info.cluster.leader
    return str(info.cluster.leader)


async def read_all(ordering: NatsOrdering, count: int) -> list[Ordered]:
    out: list[Ordered] = []
    reader = ordering.read(0)
    try:
        async with asyncio.timeout(60):
            async for item in reader:
                out.append(item)
                if len(out) == count:
                    break
    finally:
        await reader.aclose()
    return out


def assert_exactly_once(acked: dict[bytes, int], read: list[Ordered]) -> None:
    """Every acknowledged entry is at its acknowledged position, once; nothing else exists."""
    assert [o.position for o in read] == list(range(1, len(read) + 1))
    assert len(read) == len(acked)
    found = {o.data: o.position for o in read}
    assert len(found) == len(read)  # no entry ordered twice
    assert found == acked


async def test_killing_a_follower_loses_no_acknowledged_entry(
    fresh_cluster: NatsCluster, consortium: str
) -> None:
    ordering = await NatsOrdering.connect(fresh_cluster.client_urls, consortium, options=FAST)
    try:
        leader = await stream_leader(ordering)
        follower = next(i for i in range(3) if fresh_cluster.name(i) != leader)
        acked: dict[bytes, int] = {}
        for index in range(BATCHES):
            if index == 2:
                fresh_cluster.kill(follower)
            await submit_batch(ordering, index, acked)
        assert_exactly_once(acked, await read_all(ordering, len(acked)))
        await asyncio.to_thread(fresh_cluster.start, follower)
        assert await ordering.last_position() == BATCHES * BATCH
    finally:
        await ordering.close()


async def test_killing_the_leader_then_restarting_it_keeps_every_entry_once(
    fresh_cluster: NatsCluster, consortium: str
) -> None:
    ordering = await NatsOrdering.connect(fresh_cluster.client_urls, consortium, options=FAST)
    try:
        acked: dict[bytes, int] = {}
        follower = asyncio.create_task(read_all(ordering, BATCHES * BATCH))
        for index in range(BATCHES):
            if index == 3:
                killed = fresh_cluster.index_of(await stream_leader(ordering))
                fresh_cluster.kill(killed)
            if index == 6:
                await asyncio.to_thread(fresh_cluster.start, killed)
            await submit_batch(ordering, index, acked)
        assert await stream_leader(ordering) != ""
        # The reader started before the crash and followed through it.
        assert_exactly_once(acked, await follower)
        # A reader from scratch, after the restart, sees the same stream.
        assert_exactly_once(acked, await read_all(ordering, len(acked)))
    finally:
        await ordering.close()


async def test_killing_the_server_a_gateway_is_connected_to_resumes_reading_and_writing(
    fresh_cluster: NatsCluster, consortium: str
) -> None:
    ordering = await NatsOrdering.connect(fresh_cluster.client_urls, consortium, options=FAST)
    try:
        acked: dict[bytes, int] = {}
        follower = asyncio.create_task(read_all(ordering, BATCHES * BATCH))
        for index in range(BATCHES):
            if index == 2:
                port = ordering._nc.connected_url.port
                fresh_cluster.kill(fresh_cluster.client_urls.index(f"nats://127.0.0.1:{port}"))
            await submit_batch(ordering, index, acked)
        assert ordering._nc.connected_url.port != port  # it really moved to another server
        assert_exactly_once(acked, await follower)
    finally:
        await ordering.close()


OUTAGE_S = 4.0
"""Longer than the deadline the first test gives its reader, many times its read wait."""


@pytest.mark.parametrize("deadline", [None, 1.0])
async def test_a_reader_waits_out_a_whole_cluster_outage_unless_given_a_deadline(
    fresh_cluster: NatsCluster, consortium: str, deadline: float | None
) -> None:
    """A partition heals: the reader keeps trying (None, the default) and resumes exactly where
    it was; with a deadline it gives up with OrderingError (what once left a gateway's ledger
    node stopped after a partition of over 60 s)."""
    options = NatsOptions(
        publish_timeout_s=1.0, read_wait_s=0.5, read_deadline_s=deadline, read_backoff_max_s=0.5
    )
    ordering = await NatsOrdering.connect(fresh_cluster.client_urls, consortium, options=options)
    reader = ordering.read(0)
    try:
        acked: dict[bytes, int] = {}
        await submit_batch(ordering, 0, acked)
        read = [await anext(reader) for _ in range(BATCH)]  # the reader is following the stream

        async def rest() -> list[Ordered]:
            async with asyncio.timeout(120):
                return read + [await anext(reader) for _ in range(BATCH)]

        follower = asyncio.create_task(rest())
        for i in range(3):
            fresh_cluster.kill(i)
        await asyncio.sleep(OUTAGE_S)
        if deadline is not None:
            with pytest.raises(OrderingError, match="no progress"):
                await follower
            return
        assert not follower.done()
        for i in range(3):
            await asyncio.to_thread(fresh_cluster.start, i, wait=False)
        await asyncio.to_thread(fresh_cluster.wait_ready)
        await submit_batch(ordering, 1, acked)
        assert_exactly_once(acked, await follower)
    finally:
        await reader.aclose()
        await ordering.close()
