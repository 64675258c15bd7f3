"""NatsOrdering against a real 3-node JetStream cluster: stream config, dedup, windows, reading."""

from __future__ import annotations

import asyncio
import secrets

import nats
import nats.js.errors
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from ledger.errors import OrderingError, OrderingGapError, OrderingMismatchError
from ledger.ordering.base import Ordered, Ordering
from ledger.ordering.nats import NatsOptions, NatsOrdering
from ledger.ordering.nats_stream import DUPLICATE_WINDOW_S, stream_names
from tests.ledger.ordering_nats.conftest import FAST
from tests.support.nats_cluster import NatsCluster, free_port

pytestmark = pytest.mark.nats


async def take(ordering: NatsOrdering, after: int, count: int) -> list[Ordered]:
    """The first ``count`` entries after ``after``, or fail after 20 s."""
    out: list[Ordered] = []
    reader = ordering.read(after)
    try:
        async with asyncio.timeout(20):
            async for item in reader:
                out.append(item)
                if len(out) == count:
                    break
    finally:
        await reader.aclose()
    return out


async def collect_positions(ordering: NatsOrdering, seen: list[int]) -> None:
    """Read from 0 into ``seen`` until the reader raises (or fail after 20 s)."""
    async with asyncio.timeout(20):
        async for item in ordering.read(0):
            seen.append(item.position)


async def test_is_an_ordering(ordering: NatsOrdering) -> None:
    implementation: Ordering = ordering
    assert await implementation.last_position() == 0


async def test_stream_config_is_durable_and_append_only(ordering: NatsOrdering) -> None:
    js = ordering._nc.jetstream()
    info = await js.stream_info(ordering.stream)
    assert info.config.num_replicas == 3
    assert info.config.storage == StorageType.FILE
    assert info.config.discard == DiscardPolicy.NEW
    assert info.config.deny_delete is True
    assert info.config.deny_purge is True
    assert info.config.duplicate_window == DUPLICATE_WINDOW_S
    assert info.config.subjects == [ordering.subject]
    assert info.cluster is not None
    assert len(info.cluster.replicas or []) == 2  # two followers beside the leader
    await ordering.submit(b"entry", "k1")
    with pytest.raises(nats.js.errors.APIError):
        await js.delete_msg(ordering.stream, 1)
    with pytest.raises(nats.js.errors.APIError):
        await js.purge_stream(ordering.stream)
    assert await ordering.last_position() == 1


async def test_connect_is_idempotent_but_refuses_another_config(
    shared_cluster: NatsCluster, ordering: NatsOrdering, consortium: str
) -> None:
    await ordering.submit(b"first", "k1")
    again = await NatsOrdering.connect(shared_cluster.client_urls, consortium, options=FAST)
    try:
        assert await again.last_position() == 1
    finally:
        await again.close()
    with pytest.raises(OrderingMismatchError):
        await NatsOrdering.connect(shared_cluster.client_urls, consortium, replicas=1, options=FAST)


async def test_submit_is_idempotent_by_key(ordering: NatsOrdering) -> None:
    first = await ordering.submit(b"a", "tx-a")
    other = await ordering.submit(b"b", "tx-b")
    repeat = await ordering.submit(b"a", "tx-a")
    assert (first, other, repeat) == (1, 2, 1)
    assert await ordering.last_position() == 2
    assert [o.data for o in await take(ordering, 0, 2)] == [b"a", b"b"]


async def test_submit_rejects_an_oversized_entry_without_retrying(ordering: NatsOrdering) -> None:
    async with asyncio.timeout(10):  # a retried 400 would spin until the 30 s deadline
        with pytest.raises(OrderingError, match="rejected"):
            await ordering.submit(b"x" * (200 * 1024), "big")


class CountingOrdering(NatsOrdering):
    """The real backend, instrumented to observe how many submits are in flight at once."""

    in_flight = 0
    peak = 0

    async def submit(self, data: bytes, dedup_key: str) -> int:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await super().submit(data, dedup_key)
        finally:
            self.in_flight -= 1


async def test_submit_many_keeps_a_window_and_input_order(
    shared_cluster: NatsCluster, consortium: str
) -> None:
    options = NatsOptions(window=16, publish_timeout_s=1.0, read_wait_s=0.5)
    ordering = await CountingOrdering.connect(
        shared_cluster.client_urls, consortium, options=options
    )
    try:
        items = [(f"entry-{i}".encode(), f"tx-{i}") for i in range(300)]
        items.append((b"entry-7", "tx-7"))  # a repeat inside the batch: same position
        positions = await ordering.submit_many(items)
        assert ordering.peak == 16
        assert sorted(set(positions)) == list(range(1, 301))
        assert positions[-1] == positions[7]
        by_position = {o.position: o.data for o in await take(ordering, 0, 300)}
        for (data, _), position in zip(items, positions, strict=True):
            assert by_position[position] == data
    finally:
        await ordering.close()


async def test_submit_many_of_nothing(ordering: NatsOrdering) -> None:
    assert await ordering.submit_many([]) == []


async def test_read_from_a_position_then_follow(ordering: NatsOrdering) -> None:
    await ordering.submit_many([(f"e{i}".encode(), f"k{i}") for i in range(1, 11)])
    assert [(o.position, o.data) for o in await take(ordering, 4, 6)] == [
        (i, f"e{i}".encode()) for i in range(5, 11)
    ]
    follower = asyncio.create_task(take(ordering, 10, 3))
    await asyncio.sleep(0.3)  # let the reader start waiting at the head
    await ordering.submit_many([(f"e{i}".encode(), f"k{i}") for i in range(11, 14)])
    followed = await follower
    assert [o.position for o in followed] == [11, 12, 13]
    assert (await ordering.get(12)).data == b"e12"


async def test_read_beyond_the_stream_is_a_mismatch(ordering: NatsOrdering) -> None:
    await ordering.submit(b"only", "k")
    with pytest.raises(OrderingMismatchError):
        await take(ordering, 5, 1)


async def _unprotected(cluster: NatsCluster) -> tuple[NatsOrdering, NATS]:
    """A stream without deny_delete/deny_purge (what a misconfigured or tampered server would hold),
    read through NatsOrdering so its gap checks meet a real hole."""
    names = stream_names(secrets.token_hex(8))
    nc = await nats.connect(cluster.client_urls)
    await nc.jetstream().add_stream(
        StreamConfig(name=names.stream, subjects=[names.subject], num_replicas=3)
    )
    return NatsOrdering(nc, names, FAST), nc


async def test_a_deleted_message_is_a_gap(shared_cluster: NatsCluster) -> None:
    ordering, nc = await _unprotected(shared_cluster)
    try:
        await ordering.submit_many([(b"1", "k1"), (b"2", "k2"), (b"3", "k3")])
        await nc.jetstream().delete_msg(ordering.stream, 2)
        seen: list[int] = []
        with pytest.raises(OrderingGapError) as caught:
            await collect_positions(ordering, seen)
        assert seen == [1]
        assert (caught.value.expected, caught.value.got) == (2, 3)
    finally:
        await ordering.close()


async def test_a_purged_stream_is_a_gap_at_resume(shared_cluster: NatsCluster) -> None:
    ordering, nc = await _unprotected(shared_cluster)
    try:
        await ordering.submit_many([(b"1", "k1"), (b"2", "k2"), (b"3", "k3")])
        await nc.jetstream().purge_stream(ordering.stream, keep=1)
        with pytest.raises(OrderingGapError) as caught:
            await take(ordering, 1, 1)
        assert (caught.value.expected, caught.value.got) == (2, 3)
    finally:
        await ordering.close()


async def test_no_reachable_server_fails_within_the_connect_timeout(consortium: str) -> None:
    dead = f"nats://127.0.0.1:{free_port()}"
    async with asyncio.timeout(15):
        with pytest.raises(OrderingError, match="cannot connect"):
            await NatsOrdering.connect(
                [dead], consortium, options=NatsOptions(connect_timeout_s=2.0)
            )


async def test_get_of_a_missing_position_fails_without_retrying(ordering: NatsOrdering) -> None:
    await ordering.submit(b"one", "k1")
    async with asyncio.timeout(10):
        with pytest.raises(OrderingError, match="rejected"):
            await ordering.get(5)


async def test_a_reader_yields_each_entry_without_waiting_for_a_full_batch(
    shared_cluster: NatsCluster, consortium: str
) -> None:
    """The commit latency below saturation rests on this: a fetch returns what is there, not
    only a full batch or the end of its wait. With an hour's wait and batches of 256, the
    entries published one at a time to an idle stream are each read within the test's bound."""
    patient = NatsOptions(publish_timeout_s=1.0, read_batch=256, read_wait_s=3600.0)
    reader = await NatsOrdering.connect(shared_cluster.client_urls, consortium, options=patient)
    writer = await NatsOrdering.connect(shared_cluster.client_urls, consortium, options=FAST)
    stream = reader.read(0)
    try:
        async with asyncio.timeout(30):
            for n in range(1, 4):  # the reader is idle in its fetch when each one arrives
                await writer.submit(f"e{n}".encode(), f"k{n}")
                got = await anext(stream)
                assert (got.position, got.data) == (n, f"e{n}".encode())
    finally:
        await stream.aclose()
        await writer.close()
        await reader.close()
