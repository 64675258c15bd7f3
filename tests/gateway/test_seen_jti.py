"""The shared jti table answers as the in-process cache does, on SQLite and PostgreSQL: once per
(issuer, jti) until the expiry, a dead row taken over; expired rows are deleted once a minute."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.auth.replay import MemoryReplayCache, ReplayCache
from gateway.store.prune import PRUNE_EVERY_S
from gateway.store.seen_jti import SqlReplayCache


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReplayCache]:
    if request.param == "memory":
        yield MemoryReplayCache()
        return
    url = f"sqlite:///{tmp_path / 'jti.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    table = SqlReplayCache(sa.create_engine(url))
    yield table
    table.engine.dispose()


def test_a_jti_is_accepted_once_until_it_expires(cache: ReplayCache) -> None:
    assert cache.first_use("peer:a", "j1", expires_at=100, now=0)
    assert not cache.first_use("peer:a", "j1", expires_at=100, now=50)
    assert cache.first_use("peer:b", "j1", expires_at=100, now=50)  # scoped per issuer
    assert not cache.first_use("peer:a", "j1", expires_at=100, now=100)
    assert cache.first_use("peer:a", "j1", expires_at=300, now=101)  # its old row is dead
    assert not cache.first_use("peer:a", "j1", expires_at=300, now=102)


def test_expired_rows_are_deleted_at_most_once_a_minute(pg_url: str) -> None:
    table = SqlReplayCache(sa.create_engine(pg_url))
    long_jti = "x" * 5000  # any length: stored as a digest
    assert table.first_use("client:ehr", long_jti, expires_at=10, now=0)
    assert table.first_use("client:ehr", "b", expires_at=500, now=1)
    assert len(table) == 2
    assert table.first_use("client:ehr", "c", expires_at=500, now=PRUNE_EVERY_S - 1)
    assert len(table) == 3  # not yet a minute since the last pruning
    assert table.first_use("client:ehr", "d", expires_at=500, now=PRUNE_EVERY_S)
    assert len(table) == 3  # the expired row went, the live ones stay
    assert not table.first_use("client:ehr", "b", expires_at=500, now=PRUNE_EVERY_S)
    table.engine.dispose()


def test_concurrent_uses_from_the_event_loop_are_decided_in_one_go(cache: ReplayCache) -> None:
    async def at_once() -> list[bool]:
        uses = [("peer:a", "j1"), ("peer:a", "j1"), ("peer:b", "j1"), ("peer:a", "j2")] * 3
        return await asyncio.gather(*(cache.first_use_async(s, j, 100, 0) for s, j in uses))

    firsts = asyncio.run(at_once())
    assert firsts == [True, False, True, True] + [False] * 8
    assert not cache.first_use("peer:a", "j2", 100, 1)  # the sync path sees the same table
