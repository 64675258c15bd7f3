"""Store conformance: one suite, run against SQLite and a real PostgreSQL."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import asdict
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from ledger.errors import ConflictError, StorageError
from ledger.ids import TxId
from ledger.statekv import MemoryState, StateChange
from ledger.storage import schema
from ledger.storage.base import BlockWrite, NodeId, Store
from ledger.storage.sql import SCAN_BATCH, SqlStore
from tests.ledger.storage.blockdata import (
    block_after,
    drop,
    entry,
    fake_digest,
    fake_node,
    put,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    opened = SqlStore(store_url)
    yield opened
    opened.close()


def test_empty_store(store: SqlStore) -> None:
    typed: Store = store  # mypy checks that SqlStore implements the protocol
    assert typed.head() is None
    assert store.position() == 0
    assert store.block(0) is None
    assert store.entries(0, 10) == []
    assert store.entry_by_tx(TxId(fake_digest("nothing"))) is None
    assert store.nodes([]) == []
    assert store.get("ns", "k") is None
    assert list(store.scan("ns")) == []
    assert list(store.iter_blocks()) == []
    assert list(store.iter_entries()) == []
    assert list(store.iter_nodes()) == []
    assert list(store.iter_state()) == []


def test_append_reads_back_every_field(store: SqlStore) -> None:
    genesis = block_after(None, 1, changes=[put("members", "hospital-a", b'{"k":1}')])
    store.append(genesis)
    second = block_after(genesis.header, 3, changes=[put("nonces", "a/1", b"1")], position=7)
    store.append(second)

    assert store.head() == second.header
    assert store.position() == 7
    assert store.block(0) == genesis.header
    assert store.block(1) == second.header
    assert store.block(2) is None
    assert store.block_hash(1) == second.header.hash()
    assert store.entries(0, 4) == [*genesis.entries, *second.entries]
    assert store.entries(2, 10) == list(second.entries[1:])
    assert store.nodes([n for n, _ in second.nodes]) == [h for _, h in second.nodes]
    assert store.get("members", "hospital-a") == b'{"k":1}'
    assert store.get("nonces", "a/1") == b"1"
    blocks = list(store.iter_blocks())
    assert blocks == [
        (genesis.header, genesis.header.hash(), 0),
        (second.header, second.header.hash(), 7),
    ]


def test_append_refuses_a_block_that_does_not_extend_the_head(store: SqlStore) -> None:
    genesis = block_after(None, 1)
    with pytest.raises(ConflictError) as empty:
        store.append(block_after(None, 1, height=1))
    assert (empty.value.expected, empty.value.got) == (-1, 1)
    store.append(genesis)
    with pytest.raises(ConflictError) as again:
        store.append(genesis)
    assert (again.value.expected, again.value.got) == (0, 0)
    with pytest.raises(ConflictError) as skip:
        store.append(block_after(genesis.header, 1, height=2))
    assert (skip.value.expected, skip.value.got) == (0, 2)
    assert store.head() == genesis.header


def test_concurrent_appends_of_one_height_admit_exactly_one(store_url: str) -> None:
    stores = [SqlStore(store_url), SqlStore(store_url)]
    try:
        prev = block_after(None, 1)
        stores[0].append(prev)
        for _ in range(5):  # several rounds: the race's interleaving differs from round to round
            rivals = [block_after(prev.header, n + 1) for n in range(2)]
            outcomes = _race(stores, rivals)
            assert sorted(outcomes, key=str) == sorted([None, ConflictError], key=str)
            winner = rivals[outcomes.index(None)]
            assert stores[1].head() == winner.header
            assert stores[0].entries(winner.header.first_index, 5) == list(winner.entries)
            prev = winner
    finally:
        for opened in stores:
            opened.close()


@pytest.mark.postgres
def test_an_append_blocked_behind_an_uncommitted_rival_gets_conflict(pg_url: str) -> None:
    # Deterministic version of the race on PostgreSQL: our head read cannot see the rival's row,
    # so only the primary key stops the second block at the same height.
    store = SqlStore(pg_url)
    rival_engine = create_engine(pg_url)
    genesis = block_after(None, 1)
    rival, mine = block_after(genesis.header, 1), block_after(genesis.header, 2)
    outcome: list[BaseException] = []
    try:
        store.append(genesis)
        with rival_engine.connect() as rival_conn:
            row = {**asdict(rival.header), "hash": rival.header.hash(), "position": 9}
            rival_conn.execute(schema.blocks.insert(), [row])  # uncommitted: holds the key
            thread = threading.Thread(target=_append_into, args=(store, mine, outcome))
            thread.start()
            _wait_until_blocked_on_a_lock(rival_engine)
            rival_conn.commit()
            thread.join(timeout=60)
        assert len(outcome) == 1
        assert isinstance(outcome[0], ConflictError)
        assert store.head() == rival.header
        assert store.entries(1, 5) == []  # nothing of ours was left behind
    finally:
        store.close()
        rival_engine.dispose()


def _append_into(store: SqlStore, block: BlockWrite, outcome: list[BaseException]) -> None:
    try:
        store.append(block)
    except BaseException as exc:  # handed to the test thread, which asserts on it
        outcome.append(exc)


def _wait_until_blocked_on_a_lock(engine: Engine) -> None:
    # A fresh connection per look: pg_stat_activity is a snapshot fixed for a transaction's length.
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(600):  # bounded: 60 s at most
        with engine.connect() as conn:
            if conn.execute(query).scalar():
                return
        time.sleep(0.1)
    raise AssertionError("the rival append never blocked on the row lock")


def _race(stores: list[SqlStore], blocks: list[BlockWrite]) -> list[type[Exception] | None]:
    barrier = threading.Barrier(len(stores))
    outcomes: list[type[Exception] | None] = [None] * len(stores)

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            stores[i].append(blocks[i])
        except ConflictError:
            outcomes[i] = ConflictError

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    return outcomes


@pytest.mark.parametrize("fault", ["duplicate node", "entry index taken"])
def test_a_block_failing_midway_leaves_nothing_behind(store: SqlStore, fault: str) -> None:
    genesis = block_after(None, 2, changes=[put("s", "keep", b"old"), put("s", "gone", b"x")])
    store.append(genesis)
    changes = [put("s", "keep", b"new"), drop("s", "gone"), put("s", "added", b"y")]
    good = block_after(genesis.header, 3, changes=changes, position=5)
    if fault == "duplicate node":
        # The header and entries insert fine; the nodes insert then violates the primary key.
        bad = BlockWrite(good.header, good.entries, [*good.nodes, good.nodes[0]], changes, 5)
    else:
        bad = BlockWrite(good.header, [*good.entries, entry(0, 1)], good.nodes, changes, 5)
    with pytest.raises(StorageError) as caught:
        store.append(bad)
    assert not isinstance(caught.value, ConflictError)

    assert store.head() == genesis.header
    assert store.position() == 0
    assert store.entries(0, 10) == list(genesis.entries)
    assert list(store.iter_nodes()) == sorted(genesis.nodes, key=lambda n: n[0].index)
    assert list(store.iter_state()) == [("s", "gone", b"x"), ("s", "keep", b"old")]
    store.append(good)  # the failed attempt left the store usable
    assert list(store.scan("s")) == [("added", b"y"), ("keep", b"new")]


KEYS = [
    "",
    "a",
    "a%",
    "a%b",
    "a_",
    "a_b",
    "ab",
    "a\\",
    "é",
    "éa",
    "中文",
    "中文字",
    "\U0001f600",
    "z",
]
PREFIXES = ["", "a", "a%", "a_", "a\\", "é", "中", "中文", "\U0001f600", "zz", "\U0010ffff"]


def test_scan_matches_the_reference_for_awkward_prefixes(store: SqlStore) -> None:
    changes = [put("ns", key, key.encode() or b"empty") for key in KEYS]
    changes.append(put("other", "a", b"elsewhere"))
    store.append(block_after(None, 1, changes=changes))
    reference = MemoryState()
    reference.apply(changes)
    for prefix in PREFIXES:
        assert list(store.scan("ns", prefix)) == list(reference.scan("ns", prefix)), prefix
    assert [k for k, _ in store.scan("ns", "a%")] == ["a%", "a%b"]  # % and _ are not wildcards
    assert [k for k, _ in store.scan("ns", "a_")] == ["a_", "a_b"]


def test_get_many_finds_exactly_the_rows_of_its_namespace_among_the_keys(store: SqlStore) -> None:
    changes = [put("ns", key, key.encode() or b"empty") for key in KEYS]
    many = [f"n/{i:04d}" for i in range(SCAN_BATCH + 7)]  # more keys than one statement takes
    changes += [put("ns", key, key.encode()) for key in many[::3]]
    changes.append(put("other", "a", b"elsewhere"))
    store.append(block_after(None, 1, changes=changes))
    reference = MemoryState()
    reference.apply(changes)
    asked = [*KEYS, *many, "absent", "a'; --", "b"]
    expected = {key: value for key in asked if (value := reference.get("ns", key)) is not None}
    assert store.get_many("ns", asked) == expected
    assert store.get_many("other", ["a", "b"]) == {"a": b"elsewhere"}
    assert store.get_many("ns", []) == {}


def test_state_follows_a_random_series_of_blocks(store: SqlStore) -> None:
    rng = random.Random(20240611)  # fixed seed: reproducible, bounded
    reference = MemoryState()
    prev = None
    for _ in range(12):
        changes = [
            StateChange(
                rng.choice(["consent", "grant"]),
                rng.choice(KEYS[1:]) + str(rng.randrange(6)),
                None if rng.random() < 0.3 else rng.randbytes(rng.randrange(1, 40)),
            )
            for _ in range(rng.randrange(1, 25))  # repeated keys in a block: the last write wins
        ]
        write = block_after(prev, 1, changes=changes)
        store.append(write)
        reference.apply(changes)
        prev = write.header
        for ns in ("consent", "grant"):
            for prefix in ("", "a", "é", "中文"):
                assert list(store.scan(ns, prefix)) == list(reference.scan(ns, prefix))
    expected = [(ns, key, value) for (ns, key), value in sorted(reference.rows.items())]
    assert list(store.iter_state()) == expected


def test_entry_by_tx_prefers_the_valid_duplicate_else_the_earliest(store: SqlStore) -> None:
    genesis = block_after(None, 1)
    entries = [
        entry(1, 1, tx="twice", code=5),
        entry(2, 1, tx="twice", code=0),
        entry(3, 1, tx="twice", code=7),
        entry(4, 1, tx="never valid", code=3),
        entry(5, 1, tx="never valid", code=4),
    ]
    store.append(genesis)
    store.append(block_after(genesis.header, entries))
    assert store.entry_by_tx(TxId(fake_digest("twice"))) == entries[1]
    assert store.entry_by_tx(TxId(fake_digest("never valid"))) == entries[3]
    assert store.entry_by_tx(TxId(fake_digest("tx 0"))) == genesis.entries[0]


def test_nodes_come_back_in_the_order_asked_and_a_missing_one_is_named(store: SqlStore) -> None:
    nodes = [fake_node(0, 0), fake_node(0, 1), fake_node(1, 0), fake_node(3, 7)]
    store.append(block_after(None, 2, nodes=nodes))
    asked = [NodeId(3, 7), NodeId(0, 1), NodeId(1, 0), NodeId(0, 1)]
    assert store.nodes(asked) == [dict(nodes)[node] for node in asked]
    with pytest.raises(StorageError, match="level 2 index 0"):
        store.nodes([NodeId(0, 0), NodeId(2, 0)])


def test_a_reopened_store_holds_what_was_committed(store_url: str) -> None:
    first = SqlStore(store_url)
    genesis = block_after(None, 2, changes=[put("members", "m", b"v")])
    second = block_after(genesis.header, 1, position=3)
    first.append(genesis)
    first.append(second)
    first.close()
    reopened = SqlStore(store_url)
    try:
        assert reopened.head() == second.header
        assert reopened.position() == 3
        assert reopened.entries(0, 3) == [*genesis.entries, *second.entries]
        assert reopened.get("members", "m") == b"v"
        reopened.append(block_after(second.header, 1))
    finally:
        reopened.close()


def test_large_leaves_and_values_round_trip(store: SqlStore) -> None:
    rng = random.Random(7)
    blobs = [rng.randbytes(64 * 1024) for _ in range(4)]
    genesis = block_after(None, 4)
    entries = [
        e.__class__(e.index, e.tx_id, blob, 0, 0)
        for e, blob in zip(genesis.entries, blobs, strict=True)
    ]
    store.append(BlockWrite(genesis.header, entries, genesis.nodes, [put("big", "v", blobs[0])], 0))
    assert store.entries(0, 4) == entries
    assert store.get("big", "v") == blobs[0]


def test_full_iterators_stream_past_one_batch(store: SqlStore) -> None:
    count = SCAN_BATCH * 2 + 17
    changes = [put("n", f"k{i:05d}", b"v") for i in range(count)]
    nodes = [fake_node(level, i) for level in (0, 1) for i in range(count // 2)]
    genesis = block_after(None, count, changes=changes, nodes=nodes)
    store.append(genesis)
    assert list(store.iter_entries()) == list(genesis.entries)
    assert list(store.iter_nodes()) == nodes
    assert [key for _, key, _ in store.iter_state()] == [c.key for c in changes]
    assert len(list(store.scan("n", "k0"))) == count


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    SqlStore(f"sqlite:///{path}").close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_an_unopenable_store_raises_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot open store"):
        SqlStore(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")


def test_a_block_larger_than_one_statement_round_trips(store: SqlStore) -> None:
    """SQLite writes a block in multi-row statements of at most 32,766 bound values: entries (5
    columns) and state rows (3) here each take several, and the chunk edges must lose nothing."""
    genesis = block_after(None)
    store.append(genesis)
    count = 7_000
    changes = [put("big", f"k{i:05d}", f"v{i}".encode()) for i in range(12_000)]
    block = block_after(genesis.header, count, changes=changes)
    store.append(block)
    assert store.count_entries() == 1 + count
    assert [e.index for e in store.entries(0, 1 + count)] == list(range(1 + count))
    assert store.entries(count, 1) == [block.entries[-1]]
    rows = dict(store.scan("big"))
    assert len(rows) == len(changes)
    assert rows["k00000"] == b"v0"
    assert rows["k11999"] == b"v11999"
    assert store.nodes([NodeId(0, 1), NodeId(0, count)]) == [
        fake_node(0, 1)[1],
        fake_node(0, count)[1],
    ]
