"""Crash NATS servers and a gateway while all three gateways submit: nothing acknowledged is lost or
doubled, the crashed gateway catches up from its own store, and the chains stay identical."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats.errors
import pytest

from ledger.genesis import consortium_id
from ledger.ordering.nats import NatsOrdering
from tests.integration.checks import assert_committed_once, assert_same_chain, member_stores
from tests.integration.nodes import MEMBERS, NodeProcess, converge, read_acked
from tests.support.nats_cluster import NatsCluster

pytestmark = [pytest.mark.nats, pytest.mark.slow]

RATE = 100.0
"""Entries per second per gateway: steady load across every fault, well under the commit ceiling."""
MAX_ENTRIES = 4000
"""Upper bound per gateway (about 40 s at RATE); the test halts the load long before."""


async def stream_leader(ordering: NatsOrdering, timeout: float = 20.0) -> str:
    """The stream leader's server name, retried while the client reconnects or a leader is elected."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                info = await ordering._nc.jetstream().stream_info(ordering.stream)
            except nats.errors.Error:
                await asyncio.sleep(0.2)
                continue
            if info.cluster is not None and info.cluster.leader:
                return str(info.cluster.leader)
            await asyncio.sleep(0.2)


async def load(node: NodeProcess, count: int = MAX_ENTRIES) -> None:
    acked = node.root / node.org / "acked.txt"
    await node.request("load", count=count, window=16, rate=RATE, acked=str(acked))


async def test_acknowledged_entries_survive_server_and_gateway_crashes(
    fresh_cluster: NatsCluster, root: Path
) -> None:
    urls = fresh_cluster.client_urls
    cid = consortium_id((root / "consortium" / "genesis.json").read_bytes())
    nodes = [NodeProcess(root, m.org, urls, track=False) for m in MEMBERS]
    survivors, victim = nodes[:2], nodes[2]
    ordering = await NatsOrdering.connect(urls, cid)
    try:
        await asyncio.gather(*(node.start() for node in nodes))
        for node in nodes:
            await load(node)
        await asyncio.sleep(2)

        leader_name = await stream_leader(ordering)
        follower = next(i for i in range(3) if fresh_cluster.name(i) != leader_name)
        fresh_cluster.kill(follower)
        await asyncio.sleep(2)
        await asyncio.to_thread(fresh_cluster.start, follower)

        leader = fresh_cluster.index_of(await stream_leader(ordering))
        fresh_cluster.kill(leader)
        await asyncio.sleep(3)  # a new leader is elected meanwhile (writes stall a few seconds)
        await asyncio.to_thread(fresh_cluster.start, leader)
        assert await stream_leader(ordering) != ""

        before = await victim.status()
        victim.kill()
        assert await victim.wait_exit() != 0
        await asyncio.sleep(1)
        restarted = await victim.start()  # resumes from its store's position
        assert restarted["height"] <= before["height"] + 1
        await load(victim, 100)  # and submits again
        await asyncio.sleep(2)

        for node in survivors:
            halted = await node.request("halt", timeout=60.0)
            assert halted["errors"] == []
        resumed = await victim.request("load_wait", timeout=60.0)
        assert resumed["errors"] == []
        statuses = await converge(nodes, ordering, timeout=90.0)
        assert all(status["alarm"] is None for status in statuses)
    finally:
        await asyncio.gather(*(node.stop() for node in nodes))
        await ordering.close()
    acked = [tx for m in MEMBERS for tx in read_acked(root / m.org / "acked.txt")]
    assert len(acked) > 3 * RATE * 5  # the load really ran through the faults
    with member_stores(root) as stores:
        assert_same_chain(stores)
        assert_committed_once(stores, acked)
