"""The solo ordering log: idempotent durable submits, gapless order, following, many processes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest

from ledger.errors import OrderingError, OrderingGapError
from ledger.ordering.base import Ordered, Ordering
from ledger.ordering.solo import SoloOrdering

WORKER = Path(__file__).with_name("solo_worker.py")


@pytest.fixture
async def solo(tmp_path: Path) -> AsyncIterator[SoloOrdering]:
    ordering = SoloOrdering(tmp_path / "ordering.db")
    yield ordering
    await ordering.close()


async def take(ordering: Ordering, after: int, count: int, timeout: float = 30) -> list[Ordered]:
    """The next ``count`` messages after ``after`` (bounded by ``timeout``)."""
    out: list[Ordered] = []

    async def consume() -> None:
        async for message in ordering.read(after):
            out.append(message)
            if len(out) == count:
                return

    await asyncio.wait_for(consume(), timeout)
    return out


async def test_submits_are_numbered_from_one_without_gaps(solo: SoloOrdering) -> None:
    assert await solo.last_position() == 0
    assert [await solo.submit(f"m{i}".encode(), f"k{i}") for i in range(3)] == [1, 2, 3]
    assert await solo.submit_many([(b"m3", "k3"), (b"m4", "k4")]) == [4, 5]
    assert await solo.last_position() == 5
    messages = await take(solo, 0, 5)
    assert messages == [Ordered(i + 1, f"m{i}".encode()) for i in range(5)]


async def test_a_repeated_dedup_key_returns_the_first_position(solo: SoloOrdering) -> None:
    first = await solo.submit(b"original", "tx-a")
    await solo.submit(b"other", "tx-b")
    assert await solo.submit(b"replayed", "tx-a") == first
    assert await solo.submit_many([(b"x", "tx-c"), (b"again", "tx-b"), (b"y", "tx-c")]) == [3, 2, 3]
    assert await solo.last_position() == 3
    assert [m.data for m in await take(solo, 0, 3)] == [b"original", b"other", b"x"]


async def test_read_starts_after_the_given_position(solo: SoloOrdering) -> None:
    await solo.submit_many([(f"m{i}".encode(), f"k{i}") for i in range(1200)])
    tail = await take(solo, 1100, 100)
    assert [m.position for m in tail] == list(range(1101, 1201))
    assert tail[0].data == b"m1100"


async def test_a_reader_follows_new_submits(solo: SoloOrdering) -> None:
    await solo.submit(b"first", "k1")
    reader = asyncio.create_task(take(solo, 0, 4))
    for i in range(2, 5):
        await asyncio.sleep(0.01)  # let the reader catch up and start polling
        await solo.submit(f"m{i}".encode(), f"k{i}")
    assert [m.position for m in await reader] == [1, 2, 3, 4]


async def test_a_reader_ends_when_the_ordering_closes(tmp_path: Path) -> None:
    ordering = SoloOrdering(tmp_path / "ordering.db")
    await ordering.submit(b"only", "k")
    seen: list[Ordered] = []

    async def follow() -> None:
        async for message in ordering.read(0):
            seen.append(message)

    reader = asyncio.create_task(follow())
    for _ in range(1000):  # bounded: the reader has the one row and waits for more, or 10 s pass
        if seen:
            break
        await asyncio.sleep(0.01)
    await ordering.close()
    await asyncio.wait_for(reader, 10)
    assert seen == [Ordered(1, b"only")]
    with pytest.raises(OrderingError, match="closed"):
        await ordering.submit(b"late", "k2")


async def test_acknowledged_submits_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "ordering.db"
    first = SoloOrdering(path)
    await first.submit_many([(b"a", "ka"), (b"b", "kb")])
    await first.close()
    second = SoloOrdering(path)
    try:
        assert await second.last_position() == 2
        assert await second.submit(b"c", "kc") == 3
        assert await second.submit(b"a again", "ka") == 1
        assert [m.data for m in await take(second, 0, 3)] == [b"a", b"b", b"c"]
    finally:
        await second.close()


async def test_a_gap_in_the_file_is_reported(solo: SoloOrdering, tmp_path: Path) -> None:
    await solo.submit_many([(b"a", "ka"), (b"b", "kb"), (b"c", "kc")])
    with closing(sqlite3.connect(tmp_path / "ordering.db", isolation_level=None)) as raw:
        raw.execute("DELETE FROM log WHERE position = 2")  # tampering: what the reader must catch
    with pytest.raises(OrderingGapError) as caught:
        await take(solo, 0, 3)
    assert (caught.value.expected, caught.value.got) == (2, 3)


def test_concurrent_processes_share_one_gapless_log(tmp_path: Path) -> None:
    path = tmp_path / "ordering.db"
    asyncio.run(_multi_process(path))


async def _multi_process(path: Path) -> None:
    ordering = SoloOrdering(path)  # create the file first, as `medgate init` would
    names, own, shared = ["p0", "p1", "p2", "p3"], 150, 30
    total = len(names) * own + shared
    readers = [asyncio.create_task(take(ordering, 0, total, timeout=120)) for _ in range(2)]
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            str(path),
            name,
            str(own),
            str(shared),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in names
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert await asyncio.wait_for(worker.stdout.readline(), 60) == b"ready\n"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        await worker.stdin.drain()
    acks: dict[str, set[int]] = {}
    for worker in workers:
        out, err = await asyncio.wait_for(worker.communicate(), 120)
        assert worker.returncode == 0, err.decode()
        for line in out.decode().splitlines():  # "ready" was consumed above
            ack = json.loads(line)
            acks.setdefault(ack["key"], set()).add(ack["position"])
    first, second = await asyncio.gather(*readers)
    await ordering.close()

    assert first == second  # every reader sees the same sequence
    assert [m.position for m in first] == list(range(1, total + 1))  # gapless
    by_key = {m.data.decode(): m.position for m in first}
    assert len(by_key) == total  # every key exactly once
    assert set(acks) == set(by_key)  # every acknowledged submit is present ...
    for key, positions in acks.items():
        assert positions == {by_key[key]}  # ... at the position every submitter was told


def test_gateways_opening_a_new_log_at_the_same_moment_all_get_in(tmp_path: Path) -> None:
    # Gateways started together race to switch the brand-new file to WAL: two connections that
    # both hold SQLite's shared lock and both want the exclusive one get SQLITE_BUSY at once, the
    # busy timeout notwithstanding (seen: `medgate serve` exiting "database is locked").
    # Each round opens a new file from 8 threads released together; every open must succeed.
    failures: list[BaseException] = []
    for round_ in range(25):
        path = tmp_path / f"ordering-{round_}.db"
        start = threading.Barrier(8)
        opened: list[SoloOrdering] = []

        def open_log(
            path: Path = path, start: threading.Barrier = start, opened: list[SoloOrdering] = opened
        ) -> None:
            start.wait(timeout=30)
            try:
                opened.append(SoloOrdering(path))
            except OrderingError as exc:
                failures.append(exc)

        threads = [threading.Thread(target=open_log) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for ordering in opened:
            asyncio.run(ordering.close())
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert failures == []
