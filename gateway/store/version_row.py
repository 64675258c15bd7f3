"""The FHIR store's one version row, read on every exchange request (gateway.services.versions).

On SQLite (a local WAL file, whose readers never wait for a writer) the row is read on the event
loop through one dedicated driver connection: ~2 us, where a pooled SQLAlchemy read from a worker
thread cost ~90 us of CPU per request. On a server database it stays a pooled read in a worker
thread (a network round trip must not block the loop).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from gateway.errors import UnavailableError

READ = "SELECT version, ledger_fence FROM fhir_store_version WHERE id = 1"


class VersionRow:
    """Reads (write counter, ledger fence). ``inline`` says the read may run on the event loop.
    Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.inline = engine.dialect.name == "sqlite" and engine.url.database not in (
            None,
            "",
            ":memory:",
        )
        self._lock = threading.Lock()
        self._driver: Any = engine.raw_connection() if self.inline else None

    def read(self) -> tuple[int, int]:
        try:
            row = self._driver_read() if self.inline else self._pooled_read()
        except (OperationalError, sqlite3.Error) as exc:
            raise UnavailableError("the FHIR store is unavailable") from exc
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def _driver_read(self) -> Any:
        # Outside any transaction (the driver opens none for a SELECT): the latest commit.
        with self._lock:
            cursor = self._driver.cursor()
            try:
                cursor.execute(READ)
                return cursor.fetchone()
            finally:
                cursor.close()

    def _pooled_read(self) -> Any:
        with self._engine.connect() as conn:  # no explicit BEGIN/COMMIT around one row
            return conn.execute(sa.text(READ)).first()

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
