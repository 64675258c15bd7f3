"""The ledger store's tables and engine set-up for SQLite and PostgreSQL (SQLAlchemy Core).

Core rather than ORM models: a block is written with one executemany per table, and the ORM's
per-row unit of work would cost more than the inserts themselves (ARCHITECTURE.md section 8).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    event,
)
from sqlalchemy.engine import Connection

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite writer waits for another connection's write lock before failing."""

BEGIN_MODE = "medgate_sqlite_begin"
"""Execution option naming the SQLite BEGIN mode (DEFERRED for reads, IMMEDIATE for appends)."""

# On SQLite only ``INTEGER PRIMARY KEY`` is an alias of the rowid: ``BIGINT PRIMARY KEY`` would add a
# second B-tree (a unique index beside the rowid table) that every insert maintains. Both are 64 bit.
RowId = BigInteger().with_variant(Integer(), "sqlite")

# Keys are compared byte-wise so that key order is Unicode code point order on both engines (and in
# MemoryState): SQLite's default BINARY collation does that on UTF-8; PostgreSQL needs COLLATE "C",
# or a locale collation would reorder keys and break prefix ranges.
Key = String().with_variant(String(collation="C"), "postgresql")

metadata = MetaData()

blocks = Table(
    "blocks",
    metadata,
    Column("height", RowId, primary_key=True, autoincrement=False),
    Column("prev_hash", String(64), nullable=False),
    Column("first_index", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("tree_root", String(64), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("codes_digest", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("position", BigInteger, nullable=False),
)

entries = Table(
    "entries",
    metadata,
    Column("idx", RowId, primary_key=True, autoincrement=False),
    Column("tx_id", String(64), nullable=False, index=True),
    Column("leaf", LargeBinary, nullable=False),
    Column("code", Integer, nullable=False),
    Column("height", BigInteger, ForeignKey("blocks.height"), nullable=False),
)

nodes = Table(
    "merkle_nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
    # Composite keys: WITHOUT ROWID stores each row once, in its primary key's B-tree.
    sqlite_with_rowid=False,
)

# Not WITHOUT ROWID: access rows run to ~600 bytes, and SQLite keeps a WITHOUT ROWID table's whole
# rows in its key's B-tree, where large rows split pages (measured ~60% slower appends).
state = Table(
    "state",
    metadata,
    Column("ns", Key, primary_key=True),
    Column("key", Key, primary_key=True),
    Column("value", LargeBinary, nullable=False),
)


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the pragmas the store relies on; creates missing tables."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    metadata.create_all(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module, which never begins before a SELECT: the head read
        # and the inserts of an append must be one transaction (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: the WAL is fsynced at every commit, so a block the gateway has checkpointed and
            # cosigned survives power loss. NORMAL would only lose the last blocks (replayable from
            # the ordering log), but a signed checkpoint for a block it no longer holds is worse
            # than one fsync per block, and a block holds up to hundreds of entries.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock at BEGIN, so a second writer waits (busy_timeout) and then
        # reads the new head, instead of failing mid-transaction on a stale snapshot.
        mode = conn.get_execution_options().get(BEGIN_MODE, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
