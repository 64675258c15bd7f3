"""Fixtures for the nats ordering tests: real 3-node clusters started from the deploy template."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from ledger.ordering.nats import NatsOptions, NatsOrdering
from tests.support.nats_cluster import NatsCluster

# Short waits keep failing tests fast; deadlines still cover a ~5 s leader election.
FAST = NatsOptions(publish_timeout_s=1.0, submit_deadline_s=30.0, read_wait_s=0.5)


@pytest.fixture
def consortium() -> str:
    return secrets.token_hex(32)


@pytest.fixture
async def ordering(shared_cluster: NatsCluster, consortium: str) -> AsyncIterator[NatsOrdering]:
    ordering = await NatsOrdering.connect(shared_cluster.client_urls, consortium, options=FAST)
    try:
        yield ordering
    finally:
        await ordering.close()
