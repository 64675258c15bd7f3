"""The ledger Store on SQLite or PostgreSQL: a transaction per block, batched writes, keyset reads.

Every SQLAlchemy and driver exception is translated here into StorageError (ConflictError when an
append does not extend the head), so callers never see the library's exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, case, delete, func, select, tuple_
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ledger.blocks import BlockHeader
from ledger.errors import ConflictError, StorageError
from ledger.ids import Digest, TxId
from ledger.storage import bulk, rows, schema
from ledger.storage.base import BlockWrite, NodeId, StoredEntry

SCAN_BATCH = 500
"""Rows fetched per round trip by scans and the full-table iterators."""


class SqlStore:
    """A Store over ``url``: ``sqlite:///path`` (WAL, synchronous=FULL) or ``postgresql+psycopg://``.

    Thread-safe (one engine, a pooled connection per call). Creates missing tables on open.
    """

    def __init__(self, url: str) -> None:
        try:
            self._engine = schema.make_engine(url)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot open store: {exc}") from exc
        self._sqlite = self._engine.dialect.name == "sqlite"

    # -- writes -----------------------------------------------------------------------------------

    def append(self, block: BlockWrite) -> None:
        """Commit ``block`` atomically. Raises ConflictError unless its height is head height + 1
        (the empty store's head height counts as -1, so genesis is height 0)."""
        header = block.header
        with self._connection(write=True) as conn, conn.begin():
            head = conn.execute(select(schema.blocks.c.height).order_by(_desc_height()).limit(1))
            head_height = head.scalar()
            current = -1 if head_height is None else int(head_height)
            if header.height != current + 1:
                raise ConflictError(current, header.height)
            try:
                conn.execute(schema.blocks.insert(), [rows.block_row(header, block.position)])
            except IntegrityError as exc:
                # A concurrent writer committed this height after our head read (PostgreSQL, READ
                # COMMITTED): the primary key is the arbiter.
                raise ConflictError(header.height, header.height) from exc
            self._write_body(conn, block)

    def _write_body(self, conn: Connection, block: BlockWrite) -> None:
        entries = [(e.index, e.tx_id, e.leaf, e.code, e.height) for e in block.entries]
        bulk.write_rows(conn, schema.entries, entries)
        nodes = [(n.level, n.index, h) for n, h in block.nodes]
        bulk.write_rows(conn, schema.nodes, nodes)
        upserts, deletes = rows.net_changes(block.changes)
        bulk.write_rows(conn, schema.state, upserts, upsert_on=("ns", "key"))
        if deletes:  # rare (no entry type deletes state today): SQLAlchemy's executemany will do
            table = schema.state
            delete_row = delete(table).where(
                table.c.ns == bindparam("del_ns"), table.c.key == bindparam("del_key")
            )
            conn.execute(delete_row, [{"del_ns": ns, "del_key": key} for ns, key in deletes])

    # -- reads ------------------------------------------------------------------------------------

    def head(self) -> BlockHeader | None:
        row = self._first(select(schema.blocks).order_by(_desc_height()).limit(1))
        return None if row is None else rows.header(row)

    def position(self) -> int:
        """The ordering position stored with the last committed block (0 when empty)."""
        stmt = select(schema.blocks.c.position).order_by(_desc_height()).limit(1)
        row = self._first(stmt)
        return 0 if row is None else int(row.position)

    def block(self, height: int) -> BlockHeader | None:
        row = self._first(select(schema.blocks).where(schema.blocks.c.height == height))
        return None if row is None else rows.header(row)

    def block_hash(self, height: int) -> Digest | None:
        """The block hash stored at ``height`` (as written, for ``ledger verify`` to recompute)."""
        row = self._first(select(schema.blocks.c.hash).where(schema.blocks.c.height == height))
        return None if row is None else Digest(row.hash)

    def entries(self, first: int, count: int) -> list[StoredEntry]:
        """Entries with index in ``[first, first + count)`` that exist, in index order."""
        col = schema.entries.c.idx
        stmt = select(schema.entries).where(col >= first, col < first + count).order_by(col)
        return [rows.entry(row) for row in self._all(stmt)]

    def entry_by_tx(self, tx_id: TxId) -> StoredEntry | None:
        """The VALID entry carrying ``tx_id`` if any, else the earliest one."""
        table = schema.entries
        invalid_last = case((table.c.code == 0, 0), else_=1)
        stmt = select(table).where(table.c.tx_id == tx_id).order_by(invalid_last, table.c.idx)
        row = self._first(stmt.limit(1))
        return None if row is None else rows.entry(row)

    def nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Stored node hashes in the order asked. Raises StorageError naming a missing node."""
        by_level: dict[int, set[int]] = {}
        for node in ids:
            by_level.setdefault(node.level, set()).add(node.index)
        found: dict[NodeId, bytes] = {}
        table = schema.nodes
        for level, indexes in by_level.items():
            stmt = select(table).where(table.c.level == level, table.c.idx.in_(sorted(indexes)))
            found.update({NodeId(r.level, r.idx): bytes(r.hash) for r in self._all(stmt)})
        missing = [node for node in ids if node not in found]
        if missing:
            raise StorageError(
                f"merkle node missing: level {missing[0].level} index {missing[0].index}"
            )
        return [found[node] for node in ids]

    def get(self, ns: str, key: str) -> bytes | None:
        table = schema.state
        row = self._first(select(table.c.value).where(table.c.ns == ns, table.c.key == key))
        return None if row is None else bytes(row.value)

    def get_many(self, ns: str, keys: Sequence[str]) -> dict[str, bytes]:
        """The existing rows among ``keys`` of ``ns``, in one query per ``SCAN_BATCH`` keys."""
        found: dict[str, bytes] = {}
        with self._connection() as conn:
            for start in range(0, len(keys), SCAN_BATCH):
                chunk = keys[start : start + SCAN_BATCH]
                rows_found = bulk.rows_among(
                    conn, schema.state, where=("ns", ns), key="key", value="value", keys=chunk
                )
                found.update((key, bytes(value)) for key, value in rows_found)
        return found

    def scan(self, ns: str, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        """Rows of ``ns`` whose key starts with ``prefix``, in key (code point) order."""
        table = schema.state
        # A key range, not LIKE: it walks the primary key index and needs no escaping of % and _.
        where = [table.c.ns == ns, table.c.key >= prefix]
        upper = rows.prefix_upper_bound(prefix)
        if upper is not None:
            where.append(table.c.key < upper)
        stmt = select(table.c.key, table.c.value).where(*where)
        for row in self._keyset(stmt, (table.c.key,)):
            yield row.key, bytes(row.value)

    # -- full iteration, for `ledger verify` ------------------------------------------------------

    def iter_blocks(self) -> Iterator[tuple[BlockHeader, Digest, int]]:
        """Every block as ``(header, stored hash, position)``, in height order."""
        for row in self._keyset(select(schema.blocks), (schema.blocks.c.height,)):
            yield rows.header(row), Digest(row.hash), int(row.position)

    def count_entries(self) -> int:
        """How many entries the store holds (verify checks none lies beyond the last block)."""
        with self._connection() as conn:
            return int(conn.execute(select(func.count()).select_from(schema.entries)).scalar_one())

    def iter_entries(self) -> Iterator[StoredEntry]:
        """Every entry in index order."""
        for row in self._keyset(select(schema.entries), (schema.entries.c.idx,)):
            yield rows.entry(row)

    def iter_nodes(self) -> Iterator[tuple[NodeId, bytes]]:
        """Every stored Merkle node, by level then index."""
        table = schema.nodes
        for row in self._keyset(select(table), (table.c.level, table.c.idx)):
            yield NodeId(row.level, row.idx), bytes(row.hash)

    def iter_state(self) -> Iterator[tuple[str, str, bytes]]:
        """Every state row as ``(ns, key, value)``, by namespace then key."""
        table = schema.state
        for row in self._keyset(select(table), (table.c.ns, table.c.key)):
            yield row.ns, row.key, bytes(row.value)

    def close(self) -> None:
        self._engine.dispose()

    # -- plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def _connection(self, write: bool = False) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                if write and self._sqlite:
                    conn.execution_options(**{schema.BEGIN_MODE: "IMMEDIATE"})
                yield conn
        except IntegrityError as exc:
            raise StorageError(f"store constraint violated: {exc.orig}") from exc
        except SQLAlchemyError as exc:
            raise StorageError(f"store failed: {exc}") from exc

    def _first(self, stmt: Select[Any]) -> Row[Any] | None:
        with self._connection() as conn, conn.begin():
            return conn.execute(stmt).first()

    def _all(self, stmt: Select[Any]) -> list[Row[Any]]:
        with self._connection() as conn, conn.begin():
            return list(conn.execute(stmt).all())

    def _keyset(self, stmt: Select[Any], keys: tuple[Any, ...]) -> Iterator[Row[Any]]:
        """Stream ``stmt`` ordered by ``keys`` in batches, one short transaction per batch, resuming
        after the last key seen. No connection stays open while the caller consumes rows."""
        last: tuple[Any, ...] | None = None
        while True:
            page = stmt if last is None else stmt.where(tuple_(*keys) > tuple_(*last))
            batch = self._all(page.order_by(*keys).limit(SCAN_BATCH))
            yield from batch
            if len(batch) < SCAN_BATCH:
                return
            last = tuple(getattr(batch[-1], key.name) for key in keys)


def _desc_height() -> Any:
    return schema.blocks.c.height.desc()
