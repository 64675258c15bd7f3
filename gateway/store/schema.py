"""Schema creation for the member's database, on a new or an existing one (SQLite, PostgreSQL).

``create_all`` makes the tables that are absent; a table that already exists keeps the columns and
indexes it was made with. ``upgrade`` adds what a newer release declares on top: missing columns
(each must be nullable or have a server default, so existing rows get a value) and missing indexes.
Replicas starting together may race to alter the same table: the loser's statement fails, and it
looks again (the columns are there by then).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from gateway.errors import UnavailableError

ATTEMPTS = 3


def create(engine: Engine, metadata: sa.MetaData, what: str) -> None:
    """Create ``metadata``'s absent tables, then upgrade every table to its declared columns and
    indexes. UnavailableError naming ``what`` when the database is down."""
    for attempt in range(ATTEMPTS):
        try:
            with engine.begin() as conn:
                metadata.create_all(conn)
                for table in metadata.sorted_tables:
                    upgrade(conn, table)
            return
        except OperationalError as exc:
            if attempt + 1 == ATTEMPTS or not _lost_a_race(exc):
                raise UnavailableError(f"{what} is unavailable") from exc
        except DBAPIError:
            if attempt + 1 == ATTEMPTS:
                raise  # not a race: a real schema problem, shown as it is


def upgrade(conn: Connection, table: sa.Table) -> None:
    """Add ``table``'s declared columns and indexes that the database lacks."""
    inspector = sa.inspect(conn)
    present = {c["name"] for c in inspector.get_columns(table.name)}
    for column in table.columns:
        if column.name not in present:
            spec = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {spec}"))
    indexes = {i["name"] for i in inspector.get_indexes(table.name)}
    for index in table.indexes:
        if index.name not in indexes:
            index.create(conn)


def _lost_a_race(exc: OperationalError) -> bool:
    # SQLite reports a duplicate column or index as an OperationalError, like an outage.
    text = str(exc.orig).lower()
    return "duplicate column" in text or "already exists" in text
