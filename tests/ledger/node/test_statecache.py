"""The committer's state cache over a real SQLite store: staged rows of blocks not yet durable are
read first and never lost; a flushed block's rows move to the cache; a stale read never sticks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.node.statecache import CachedState
from ledger.storage.sql import SqlStore
from tests.ledger.storage.blockdata import block_after, drop, put


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = SqlStore(f"sqlite:///{tmp_path / 'ledger.db'}")
    opened.append(block_after(None, changes=[put("ns", "old", b"1"), put("ns", "gone", b"x")]))
    yield opened
    opened.close()


def test_staged_rows_are_read_before_the_store_has_them(store: SqlStore) -> None:
    cache = CachedState(store)
    assert cache.get("ns", "old") == b"1"
    changes = [put("ns", "new", b"2"), put("ns", "old", b"3"), drop("ns", "gone")]
    cache.staged(changes, 1)
    assert store.get("ns", "new") is None  # not written yet
    assert cache.get("ns", "new") == b"2"
    assert cache.get("ns", "old") == b"3"
    assert cache.get("ns", "gone") is None
    assert list(cache.scan("ns")) == [("new", b"2"), ("old", b"3")]
    head = store.head()
    assert head is not None
    store.append(block_after(head, changes=changes))
    cache.flushed(changes, 1)
    assert (cache.get("ns", "new"), cache.get("ns", "old"), cache.get("ns", "gone")) == (
        b"2",
        b"3",
        None,
    )
    assert list(cache.scan("ns")) == [("new", b"2"), ("old", b"3")]


def test_a_later_staged_block_survives_the_flush_of_an_earlier_one(store: SqlStore) -> None:
    cache = CachedState(store)
    first, second = [put("ns", "k", b"a")], [put("ns", "k", b"b")]
    cache.staged(first, 1)
    cache.staged(second, 2)
    head = store.head()
    assert head is not None
    store.append(block_after(head, changes=first))
    cache.flushed(first, 1)
    assert cache.get("ns", "k") == b"b"  # block 2 is not durable yet: still read from staging


def test_staged_rows_survive_the_bounded_cache_starting_over(store: SqlStore) -> None:
    cache = CachedState(store, max_rows=2)
    cache.staged([put("ns", "s", b"staged")], 1)
    for i in range(5):
        cache.get("ns", f"miss{i}")  # fills and clears the durable-row cache
    assert cache.get("ns", "s") == b"staged"


class _RacingStore(SqlStore):
    """A real store whose first read of one key lets a whole block be staged, written and flushed
    between the moment it read the row and the moment it returns (a prepare thread's store miss
    racing the committer)."""

    race: object = None

    def get(self, ns: str, key: str) -> bytes | None:
        value = super().get(ns, key)
        race, self.race = self.race, None
        if callable(race):
            race()
        return value


def test_a_stale_store_read_never_overwrites_a_flushed_row(tmp_path: Path) -> None:
    store = _RacingStore(f"sqlite:///{tmp_path / 'ledger.db'}")
    genesis = block_after(None)
    store.append(genesis)
    cache = CachedState(store)
    changes = [put("keys", "k1", b"the key")]

    def commit_block() -> None:
        cache.staged(changes, 1)
        store.append(block_after(genesis.header, changes=changes))
        cache.flushed(changes, 1)

    store.race = commit_block
    assert cache.get("keys", "k1") is None  # read before the block existed: right at that moment
    assert cache.get("keys", "k1") == b"the key"  # and not remembered as absent afterwards
    store.close()
