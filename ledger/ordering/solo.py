"""The embedded ordering service: an append-only SQLite log shared by the gateways of one machine.

Every gateway process opens the same file (e.g. ``<consortium dir>/ordering.db``). Writers serialise
on SQLite's write lock (``BEGIN IMMEDIATE``) and number each row ``max(position) + 1`` inside that
transaction, so positions are 1..n with no gap even after a rolled-back write. A commit is fsynced
(WAL, ``synchronous=FULL``) before submit returns: an acknowledged entry survives power loss.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from ledger.errors import OrderingError, OrderingGapError
from ledger.ordering.base import Ordered

BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another process's write lock; each holds it for one short batch."""
WAL_ATTEMPTS = 50
"""Tries to switch a new file to WAL while other processes open it too (~13 s in all)."""
BATCH = 500
"""Rows per write transaction in submit_many, and per read round trip."""
POLL_MIN_S = 0.002
POLL_MAX_S = 0.05
"""A follower with nothing new sleeps POLL_MIN_S, doubling to POLL_MAX_S while idle, and drops back
at once when a row arrives. So a busy stream is read with ~2 ms extra latency, and an idle one adds
at most 50 ms to the first entry after a lull, at 20 cheap indexed queries a second per reader."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    position INTEGER PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    data BLOB NOT NULL
)
"""


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN IMMEDIATE ourselves; check_same_thread=False: calls
    # run in asyncio's worker threads, one at a time per connection (guarded by a lock or a reader).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _use_wal(conn)
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL. Two processes opening the same new file at the same moment can make
    the switch fail with SQLITE_BUSY at once (a lock upgrade both want; the busy handler does not
    cover it), so a bounded number of retries."""
    for attempt in range(WAL_ATTEMPTS):
        try:
            (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
            continue
        if str(mode).lower() != "wal":  # e.g. a file system without shared memory
            raise sqlite3.OperationalError(f"the ordering log stays in {mode} mode, not WAL")
        return


class SoloOrdering:
    """The Ordering protocol over one SQLite file. Open one per process; many processes may share
    the file. Requires: ``path``'s directory exists."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._closed = False
        try:
            self._writer = _connect(path)
            self._writer.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise OrderingError(f"cannot open ordering log {path}: {exc}") from exc

    async def submit(self, data: bytes, dedup_key: str) -> int:
        """Order ``data`` durably; a repeated ``dedup_key`` returns the first position."""
        (position,) = await asyncio.to_thread(self._write_batch, [(data, dedup_key)])
        return position

    async def submit_many(self, items: list[tuple[bytes, str]]) -> list[int]:
        """Order ``items`` in the order given, BATCH rows per durable transaction."""
        positions: list[int] = []
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            positions.extend(await asyncio.to_thread(self._write_batch, chunk))
        return positions

    async def last_position(self) -> int:
        return await asyncio.to_thread(self._last_position)

    async def read(self, after: int) -> AsyncIterator[Ordered]:
        """Rows with position > ``after`` in order, then new ones as they are committed, until
        close(). Raises OrderingGapError if the file skips or repeats a position."""
        expected = after + 1
        delay = POLL_MIN_S
        reader = await asyncio.to_thread(_connect, self._path)
        # A cancelled await leaves its worker thread running on ``reader``: closing it under the
        # same lock waits for that read to end instead of pulling the connection from under it.
        guard = threading.Lock()

        def read_rows(after: int) -> list[tuple[int, bytes]]:
            with guard:
                return _read_rows(reader, after)

        try:
            while not self._closed:
                rows = await asyncio.to_thread(read_rows, expected - 1)
                for position, data in rows:
                    if position != expected:
                        raise OrderingGapError(expected, position)
                    yield Ordered(position, data)
                    expected += 1
                if rows:
                    delay = POLL_MIN_S
                else:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, POLL_MAX_S)
        except sqlite3.Error as exc:
            raise OrderingError(f"reading the ordering log failed: {exc}") from exc
        finally:
            with guard:
                reader.close()

    async def close(self) -> None:
        self._closed = True
        with self._lock:
            self._writer.close()

    def _write_batch(self, items: Sequence[tuple[bytes, str]]) -> list[int]:
        with self._lock:
            if self._closed:
                raise OrderingError("ordering log is closed")
            try:
                return _append(self._writer, items)
            except sqlite3.Error as exc:
                raise OrderingError(f"ordering log write failed: {exc}") from exc

    def _last_position(self) -> int:
        with self._lock:
            try:
                row = self._writer.execute("SELECT coalesce(max(position), 0) FROM log").fetchone()
            except sqlite3.Error as exc:
                raise OrderingError(f"ordering log read failed: {exc}") from exc
        return int(row[0])


def _append(conn: sqlite3.Connection, items: Sequence[tuple[bytes, str]]) -> list[int]:
    """Positions of ``items``, appending the new ones, in one IMMEDIATE transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        known = _known_positions(conn, [key for _, key in items])
        (last,) = conn.execute("SELECT coalesce(max(position), 0) FROM log").fetchone()
        new_rows: list[tuple[int, str, bytes]] = []
        positions: list[int] = []
        for data, key in items:
            if key not in known:  # also dedups a key repeated inside this batch
                last += 1
                known[key] = last
                new_rows.append((last, key, data))
            positions.append(known[key])
        conn.executemany("INSERT INTO log (position, dedup_key, data) VALUES (?, ?, ?)", new_rows)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return positions


def _known_positions(conn: sqlite3.Connection, keys: list[str]) -> dict[str, int]:
    unique = sorted(set(keys))
    known: dict[str, int] = {}
    # A few hundred keys per query keeps under SQLite's bound-parameter limit on old builds (999).
    for start in range(0, len(unique), 400):
        part = unique[start : start + 400]
        marks = ",".join("?" * len(part))
        query = f"SELECT dedup_key, position FROM log WHERE dedup_key IN ({marks})"  # noqa: S608
        known.update(conn.execute(query, part).fetchall())
    return known


def _read_rows(conn: sqlite3.Connection, after: int) -> list[tuple[int, bytes]]:
    query = "SELECT position, data FROM log WHERE position > ? ORDER BY position LIMIT ?"
    return [(int(p), bytes(d)) for p, d in conn.execute(query, (after, BATCH)).fetchall()]
