"""A node stops when told to, even mid-publish or mid-read (regression: nats-py turned some
cancellations into errors or results, and the ordering client carried on forever)."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from ledger.ordering.nats import NatsOrdering
from tests.support.nats_cluster import NatsCluster

pytestmark = [pytest.mark.nats]

ROUNDS = 60


async def follow(ordering: NatsOrdering) -> None:
    async for _ in ordering.read(0):
        await asyncio.sleep(0)


async def test_readers_and_submitters_end_when_cancelled(shared_cluster: NatsCluster) -> None:
    ordering = await NatsOrdering.connect(shared_cluster.client_urls, secrets.token_hex(16))
    deaf = 0
    try:
        for n in range(ROUNDS):
            reader = asyncio.create_task(follow(ordering))
            writer = asyncio.create_task(ordering.submit(b"entry %d" % n, f"tx-{n}"))
            await asyncio.sleep((n % 7) * 0.003)  # land the cancel at varying points
            for task in (reader, writer):
                if not task.cancel():
                    continue  # the submit had finished already
                try:
                    await asyncio.wait_for(task, 5)
                except asyncio.CancelledError:
                    continue
                except TimeoutError:
                    pass
                deaf += 1  # carried on although cancelled
    finally:
        await ordering.close()
    assert deaf == 0, f"{deaf} of {2 * ROUNDS} cancelled tasks carried on"
