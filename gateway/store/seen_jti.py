"""The jti replay cache shared by every replica: a table in the member's own database.

An assertion's ``jti`` is inserted with its issuer scope (``client:<id>``, ``peer:<org>``) and the
time it stops being acceptable (its ``exp`` plus leeway). The key is unique, so of two replicas
(or two requests) presenting the same assertion exactly one insert wins: the other is the replay.
A row is kept until its expiry has passed, so a token is refused for as long as it could verify;
expired rows are deleted at most once a minute per replica, through the index on the expiry.
"""

from __future__ import annotations

import hashlib
import threading
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from gateway.store.transactions import transaction

METADATA = sa.MetaData()

SEEN_JTI = sa.Table(
    "auth_seen_jti",
    METADATA,
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("jti_digest", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
)
PRUNE_EVERY_S = 60
"""How often (by the injected clock) one replica deletes expired rows."""


class SqlReplayCache:
    """A ``gateway.auth.replay.ReplayCache`` on ``engine`` (table created if absent). Thread-safe.

    Each call is one write transaction: call it from a worker thread, never the event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._next_prune = 0
        self._lock = threading.Lock()
        with self._tx() as conn:
            METADATA.create_all(conn)

    def first_use(self, scope: str, jti: str, expires_at: int, now: int) -> bool:
        """Record ``(scope, jti)`` until ``expires_at``; True only for the first caller, in any
        replica. A row whose expiry has passed is taken over (its token can no longer verify)."""
        self._maybe_prune(now)
        # The jti is the client's string, of any length: stored as its digest (fixed width).
        row = {
            "scope": scope,
            "jti_digest": hashlib.sha256(jti.encode()).hexdigest(),
            "expires_at": expires_at,
        }
        with self._tx() as conn:
            return conn.execute(self._claim(row, now)).first() is not None

    def _claim(self, row: dict[str, object], now: int) -> sa.Executable:
        # INSERT ... ON CONFLICT DO UPDATE ... WHERE the old row expired ... RETURNING: one atomic
        # statement that returns a row when the jti is new (or its old row dead), none for a live
        # replay (a row count is not reported for INSERT by every driver).
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(SEEN_JTI).values(**row)
        statement: sa.Executable = insert.on_conflict_do_update(
            index_elements=[SEEN_JTI.c.scope, SEEN_JTI.c.jti_digest],
            set_={"expires_at": insert.excluded.expires_at},
            where=SEEN_JTI.c.expires_at < now,
        ).returning(SEEN_JTI.c.expires_at)
        return statement

    def _maybe_prune(self, now: int) -> None:
        with self._lock:
            if now < self._next_prune:
                return
            self._next_prune = now + PRUNE_EVERY_S
        with self._tx() as conn:
            conn.execute(SEEN_JTI.delete().where(SEEN_JTI.c.expires_at < now))

    def __len__(self) -> int:
        with self._tx() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(SEEN_JTI)).scalar_one())

    def _tx(self) -> AbstractContextManager[Connection]:
        return transaction(self.engine, "the token replay store")
