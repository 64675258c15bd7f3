"""SQL storage of FHIR resources: canonical bytes plus index columns, on SQLite or PostgreSQL.

One row per resource (its current version). Reads return the stored bytes untouched; the release
path never re-parses them. The engine is created explicitly by ``FhirStore.from_url``, never
at import.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from gateway.errors import ConflictError
from gateway.fhir.search import SearchQuery
from gateway.store.filters import where_clauses
from gateway.store.transactions import transaction
from gateway.store.version_row import VersionRow

METADATA = sa.MetaData()

RESOURCES = sa.Table(
    "fhir_resource",
    METADATA,
    sa.Column("type", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("patient", sa.String(64), nullable=True),
    sa.Column("date", sa.String(10), nullable=True),
    sa.Column("last_updated", sa.String(40), nullable=False),
    sa.Index("ix_fhir_resource_patient", "type", "patient"),
    sa.Index("ix_fhir_resource_date", "type", "date"),
)

STORE_VERSION = sa.Table(
    "fhir_store_version",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("ledger_fence", sa.BigInteger, nullable=False, default=0),
)
"""One row: ``version``, a counter bumped in the transaction of every write, so every replica of
the member can tell whether anything changed since it last looked; ``ledger_fence``, the ledger
tree size a replica must have committed before it decides (raised once a consent entry written
through any replica is committed). See gateway.services.versions."""

InTransaction = Callable[[Connection, "StoredResource"], None]
"""Derived rows written in a write's own transaction (the patient index): never lost apart."""


@dataclass(frozen=True, slots=True)
class StoredResource:
    """One resource version as stored: ``body`` is the exact bytes served on reads."""

    type: str
    id: str
    version: int
    body: bytes
    patient: str | None
    date: str | None
    last_updated: str


@dataclass(frozen=True, slots=True)
class SearchPage:
    total: int
    rows: tuple[StoredResource, ...]


class FhirStore:
    """The FHIR resource table. Thread-safe (one engine, a connection per call)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._in_transaction: list[InTransaction] = []
        self._version_row: VersionRow | None = None

    def add_in_transaction(self, hook: InTransaction) -> None:
        """Run ``hook`` inside the transaction of every later insert and replace."""
        self._in_transaction.append(hook)

    def versions(self) -> tuple[int, int]:
        """(write counter, ledger fence): the counter changes whenever a resource is written, by
        any replica; the fence only grows. See ``versions_inline``."""
        return self._versions().read()

    @property
    def versions_inline(self) -> bool:
        """Whether ``versions`` may be called on the event loop (a local SQLite file)."""
        return self._versions().inline

    def _versions(self) -> VersionRow:
        if self._version_row is None:
            self._version_row = VersionRow(self.engine)
        return self._version_row

    def raise_fence(self, tree_size: int) -> None:
        """Require every replica to have committed ``tree_size`` ledger entries before deciding."""
        table = STORE_VERSION.c
        statement = STORE_VERSION.update().where(table.ledger_fence < tree_size)
        with self._tx() as conn:
            conn.execute(statement.values(ledger_fence=tree_size))

    @classmethod
    def from_url(cls, url: str) -> FhirStore:
        """Create the engine (WAL for SQLite, creating its folder) and the schema if absent."""
        parsed = sa.make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(parsed, connect_args={"check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = sa.create_engine(parsed, pool_pre_ping=True)
        store = cls(engine)
        store.create_schema()
        return store

    def create_schema(self) -> None:
        with self._tx() as conn:
            METADATA.create_all(conn)
        try:
            with self._tx() as conn:
                if conn.execute(sa.select(STORE_VERSION.c.id)).first() is None:
                    conn.execute(STORE_VERSION.insert().values(id=1, version=0, ledger_fence=0))
        except IntegrityError:
            pass  # another replica created it first

    def close(self) -> None:
        if self._version_row is not None:
            self._version_row.close()
        self.engine.dispose()

    def ping(self) -> None:
        with self._tx() as conn:
            conn.execute(sa.select(1))

    def read(self, type_: str, id_: str) -> StoredResource | None:
        query = sa.select(RESOURCES).where(RESOURCES.c.type == type_, RESOURCES.c.id == id_)
        with self._tx() as conn:
            row = conn.execute(query).first()
        return _stored(row) if row is not None else None

    def insert(self, resource: StoredResource) -> None:
        """Insert version 1 of a new resource. Raises ConflictError if the id exists."""
        try:
            with self._tx() as conn:
                conn.execute(RESOURCES.insert().values(**_values(resource)))
                self._written(conn, resource)
        except IntegrityError as exc:
            raise ConflictError(f"{resource.type}/{resource.id} already exists") from exc

    def replace(self, resource: StoredResource) -> None:
        """Store ``resource`` over version ``resource.version - 1``. Raises ConflictError otherwise.

        The version check is in the UPDATE itself, so two concurrent updates cannot both succeed.
        """
        table = RESOURCES.c
        statement = (
            RESOURCES.update()
            .where(table.type == resource.type, table.id == resource.id)
            .where(table.version == resource.version - 1)
            .values(**_values(resource))
        )
        with self._tx() as conn:
            if conn.execute(statement).rowcount != 1:
                raise ConflictError(f"{resource.type}/{resource.id} changed concurrently")
            self._written(conn, resource)

    def _written(self, conn: Connection, resource: StoredResource) -> None:
        conn.execute(STORE_VERSION.update().values(version=STORE_VERSION.c.version + 1))
        for hook in self._in_transaction:
            hook(conn, resource)

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of matches in (last_updated, id) order, and the total count of matches."""
        clauses = where_clauses(RESOURCES, query)
        count = sa.select(sa.func.count()).select_from(RESOURCES).where(*clauses)
        page = (
            sa.select(RESOURCES)
            .where(*clauses)
            .order_by(RESOURCES.c.last_updated, RESOURCES.c.id)
            .limit(query.count)
            .offset(query.offset)
        )
        with self._tx() as conn:
            total = conn.execute(count).scalar_one()
            rows = conn.execute(page).all() if query.count else []
        return SearchPage(int(total), tuple(_stored(row) for row in rows))

    def _tx(self) -> AbstractContextManager[Connection]:
        return transaction(self.engine, "the FHIR store")


def _values(resource: StoredResource) -> dict[str, Any]:
    return {
        "type": resource.type,
        "id": resource.id,
        "version": resource.version,
        "body": resource.body,
        "patient": resource.patient,
        "date": resource.date,
        "last_updated": resource.last_updated,
    }


def _stored(row: Any) -> StoredResource:
    return StoredResource(
        row.type, row.id, row.version, bytes(row.body), row.patient, row.date, row.last_updated
    )


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # WAL lets readers proceed during a write; busy_timeout waits out a concurrent writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
