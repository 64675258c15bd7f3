"""Three gateways, each in its own process with its own store, end with the same chain."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ledger.genesis import consortium_id
from ledger.ordering.nats import NatsOrdering
from tests.integration.checks import assert_committed_once, assert_same_chain, member_stores
from tests.integration.nodes import MEMBERS, NodeProcess, converge, read_acked
from tests.support.nats_cluster import NatsCluster

pytestmark = [pytest.mark.nats, pytest.mark.slow]

PER_NODE = 400


async def wait_final(nodes: list[NodeProcess], height: int, timeout: float = 30.0) -> list[Any]:
    """Bounded wait until every node holds a quorum-cosigned checkpoint at ``height``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        finals = [(await node.status())["final"] for node in nodes]
        if all(f is not None and f["height"] == height for f in finals):
            return finals
        if loop.time() > deadline:
            raise TimeoutError(f"checkpoints not final at {height}: {finals}")
        await asyncio.sleep(0.2)


async def test_concurrent_submitters_end_with_identical_chains_and_checkpoints(
    shared_cluster: NatsCluster, root: Path
) -> None:
    urls = shared_cluster.client_urls
    cid = consortium_id((root / "consortium" / "genesis.json").read_bytes())
    nodes = [NodeProcess(root, m.org, urls, track=False) for m in MEMBERS]
    ordering = await NatsOrdering.connect(urls, cid)
    try:
        await asyncio.gather(*(node.start() for node in nodes))
        for node in nodes:
            acked = root / node.org / "acked.txt"
            await node.request("load", count=PER_NODE, window=32, acked=str(acked))
        for node in nodes:
            done = await node.request("load_wait", timeout=120.0)
            assert done["errors"] == []
            assert done["acked"] == PER_NODE
        statuses = await converge(nodes, ordering)
        head = statuses[0]
        assert head["tree_size"] == 1 + len(MEMBERS) * PER_NODE
        assert head["height"] > 1  # the concurrent load was cut into several blocks
        for status in statuses:
            assert (status["height"], status["tree_root"]) == (head["height"], head["tree_root"])
            assert status["alarm"] is None
        finals = await wait_final(nodes, head["height"])
        assert all(f == finals[0] for f in finals)
        assert finals[0]["block_hash"] == head["hash"]
    finally:
        await asyncio.gather(*(node.stop() for node in nodes))
        await ordering.close()
    acked_ids = [tx for m in MEMBERS for tx in read_acked(root / m.org / "acked.txt")]
    assert len(acked_ids) == len(MEMBERS) * PER_NODE
    with member_stores(root) as stores:
        assert assert_same_chain(stores) == head["height"]
        assert_committed_once(stores, acked_ids)
