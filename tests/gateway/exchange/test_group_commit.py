"""Group commit of ledger entries and the released-payload cache: the hot path's two shortcuts keep
audit before release and never serve a stale payload."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from gateway.services.exchange import PayloadCache
from gateway.services.ledger import GroupSubmitter
from gateway.services.versions import Versions
from ledger.errors import OrderingError
from ledger.ids import TxId
from ledger.ordering.solo import SoloOrdering


class CountingSolo(SoloOrdering):
    """The real embedded ordering, counting the batches it is handed."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.batches: list[int] = []

    async def submit_many(self, items: list[tuple[bytes, str]]) -> list[int]:
        self.batches.append(len(items))
        return await super().submit_many(items)


def durable_rows(path: Path) -> dict[int, bytes]:
    """The log as another process sees it (a fresh connection reads only committed rows)."""
    conn = sqlite3.connect(path)
    try:
        return {int(p): bytes(d) for p, d in conn.execute("SELECT position, data FROM log")}
    finally:
        conn.close()


async def test_concurrent_entries_share_one_transaction_and_each_is_durable_when_acked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ordering.db"
    ordering = CountingSolo(path)
    submitter = GroupSubmitter(ordering)

    async def submit_and_check(i: int) -> int:
        leaf = f"entry-{i}".encode()
        position = await submitter.submit(leaf, TxId(f"tx-{i}"))
        # Acknowledged means durable: the row is readable by another connection right now.
        assert durable_rows(path)[position] == leaf
        return position

    positions = await asyncio.gather(*(submit_and_check(i) for i in range(32)))
    await ordering.close()
    assert sorted(positions) == list(range(1, 33))
    assert ordering.batches == [32]


async def test_entries_arriving_during_a_batch_form_the_next_one(tmp_path: Path) -> None:
    ordering = CountingSolo(tmp_path / "ordering.db")
    submitter = GroupSubmitter(ordering)
    first = asyncio.create_task(submitter.submit(b"a", TxId("a")))
    await asyncio.sleep(0)  # the flusher has taken "a" and is writing it
    await asyncio.sleep(0)
    rest = [asyncio.create_task(submitter.submit(b"x%d" % i, TxId(f"x{i}"))) for i in range(5)]
    positions = await asyncio.gather(first, *rest)
    await ordering.close()
    assert sorted(positions) == list(range(1, 7))
    assert len(ordering.batches) <= 2
    assert sum(ordering.batches) == 6


async def test_a_repeated_tx_id_gets_its_first_position(tmp_path: Path) -> None:
    path = tmp_path / "ordering.db"
    ordering = SoloOrdering(path)
    submitter = GroupSubmitter(ordering)
    one, two, other = await asyncio.gather(
        submitter.submit(b"same", TxId("t")),
        submitter.submit(b"same", TxId("t")),
        submitter.submit(b"other", TxId("u")),
    )
    again = await submitter.submit(b"same", TxId("t"))
    await ordering.close()
    assert one == two == again
    assert other != one
    assert len(durable_rows(path)) == 2


async def test_a_failed_batch_fails_every_waiter_and_acks_nothing(tmp_path: Path) -> None:
    ordering = SoloOrdering(tmp_path / "ordering.db")
    await ordering.close()
    submitter = GroupSubmitter(ordering)
    results = await asyncio.gather(
        *(submitter.submit(b"%d" % i, TxId(str(i))) for i in range(4)), return_exceptions=True
    )
    assert all(isinstance(r, OrderingError) for r in results)
    with pytest.raises(OrderingError):
        await submitter.submit(b"later", TxId("later"))


class Store:
    """The two versions a replica reads from the shared database, as plain counters."""

    def __init__(self) -> None:
        self.writes = 0
        self.versions = Versions(lambda: (self.writes, 0), 0)
        self.versions.read()

    def write(self) -> None:
        """A FHIR write through any replica, then this replica's next request reads versions."""
        self.writes += 1
        self.versions.read()


def test_payload_cache_keeps_and_returns_a_payload() -> None:
    cache = PayloadCache(Store().versions)
    cache.put("k", cache.generation, b"payload")
    assert cache.get("k") == b"payload"
    assert cache.get("other") is None


def test_a_write_drops_every_cached_payload() -> None:
    store = Store()
    cache = PayloadCache(store.versions)
    cache.put("k", cache.generation, b"payload")
    store.write()
    assert cache.get("k") is None


def test_a_payload_computed_across_a_write_is_not_kept() -> None:
    store = Store()
    cache = PayloadCache(store.versions)
    before = cache.generation
    store.write()
    cache.put("k", before, b"read before the write")
    assert cache.get("k") is None


def test_the_cache_stays_within_its_budget() -> None:
    cache = PayloadCache(Store().versions, budget=100)
    cache.put("big", cache.generation, b"x" * 26)  # over a quarter of the budget: never kept
    assert cache.get("big") is None
    for i in range(10):
        cache.put(i, cache.generation, b"y" * 20)
    kept = [i for i in range(10) if cache.get(i) is not None]
    assert 0 < len(kept) <= 5
    assert cache.get(9) == b"y" * 20
