"""Tamper cases generated from the ledger store's schema: change each column, delete and duplicate
rows of each table, on SQLite or PostgreSQL, as someone with write access to the database would.

Cases are derived from ``ledger.storage.schema.metadata``: a column added to any table gets its
case without anyone remembering to write one. Constraints are bypassed as an attacker would (SQLite
without ``foreign_keys``; PostgreSQL with ``session_replication_role = replica``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Table,
    and_,
    create_engine,
    delete,
    select,
    update,
)

from ledger.storage.schema import metadata

ROWS = ("middle", "last")


@dataclass(frozen=True)
class Case:
    table: str
    action: str
    """``change`` a column, ``delete`` a row or ``duplicate`` one under an unused key."""
    column: str | None
    row: str
    """Which row, in primary-key order: ``middle`` or ``last``."""

    @property
    def id(self) -> str:
        column = "" if self.column is None else f".{self.column}"
        return f"{self.table}{column}-{self.action}-{self.row}"


def cases() -> list[Case]:
    found: list[Case] = []
    for table in metadata.sorted_tables:
        for row in ROWS:
            found.extend(Case(table.name, "change", c.name, row) for c in table.columns)
            found.append(Case(table.name, "delete", None, row))
            found.append(Case(table.name, "duplicate", None, row))
    return found


@contextmanager
def unchecked(url: str) -> Iterator[Connection]:
    """A transaction on ``url`` that enforces no foreign keys, committed on exit."""
    engine: Engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            yield conn
    finally:
        engine.dispose()


def apply(conn: Connection, case: Case) -> None:
    """Tamper with the store through ``conn``; asserts that exactly one row was affected."""
    table = metadata.tables[case.table]
    keys = list(table.primary_key.columns)
    rows = conn.execute(select(table).order_by(*keys)).mappings().all()
    row = dict(rows[len(rows) // 2] if case.row == "middle" else rows[-1])
    where = and_(*(c == row[c.name] for c in keys))
    if case.action == "delete":
        assert conn.execute(delete(table).where(where)).rowcount == 1
        return
    if case.action == "duplicate":
        conn.execute(table.insert().values(_with_unused_key(table, rows, row)))
        return
    assert case.column is not None
    column = table.c[case.column]
    value = _unused(column, rows) if column.primary_key else _changed(row[case.column])
    assert value != row[case.column]
    assert conn.execute(update(table).where(where).values({case.column: value})).rowcount == 1


def _with_unused_key(table: Table, rows: Any, row: dict[str, Any]) -> dict[str, Any]:
    copy = dict(row)
    first = next(iter(table.primary_key.columns))
    copy[first.name] = _unused(first, rows)
    return copy


def _unused(column: Column[Any], rows: Any) -> Any:
    """A value of ``column`` that no row holds (so a key change violates no uniqueness)."""
    values = [r[column.name] for r in rows]
    if isinstance(values[0], int):
        return max(values) + 7
    return max(values) + "~"


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        raise TypeError("no boolean columns in the ledger schema")
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return ("1" if value[:1] != "1" else "2") + value[1:]
    if isinstance(value, bytes | memoryview):
        raw = bytes(value)
        return raw[:-1] + bytes([raw[-1] ^ 0x01])
    raise TypeError(f"no tamper rule for {type(value).__name__}: add one")


def copy_store(source_url: str, target_url: str) -> None:
    """Replace every row of ``target_url``'s ledger tables with ``source_url``'s."""
    source = create_engine(source_url)
    try:
        with source.connect() as reader:
            data = {
                t.name: [dict(r) for r in reader.execute(select(t)).mappings()]
                for t in metadata.sorted_tables
            }
    finally:
        source.dispose()
    with unchecked(target_url) as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))
        for table in metadata.sorted_tables:
            if data[table.name]:
                conn.execute(table.insert(), data[table.name])
