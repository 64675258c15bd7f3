"""Rate limit on sign-in secrets guessed from one client address: after ``max_failures`` wrong
attempts inside ``window`` seconds, the address is locked out for ``window`` seconds (429).

Counted in the member's database (table ``patient_signin_guesses``), so every replica sees every
wrong attempt: N replicas behind a load balancer allow ``max_failures`` attempts, not N times as
many. Each count is one atomic upsert, so concurrent wrong attempts are all counted. The address
is stored as its SHA-256 digest. A row means nothing once both its window and its lockout have
passed (``expires_at``); such rows are deleted at most once a minute per replica, so the table
holds only the addresses that failed within about one window. The clock is an argument.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from gateway.patientauth.tables import GUESSES, SignInTables
from gateway.store.prune import PruneSchedule


def _key(address: str) -> str:
    return hashlib.sha256(address.encode()).hexdigest()


class GuessLimiter:
    """Wrong attempts per client address on ``tables`` (the member's database). Thread-safe."""

    def __init__(self, tables: SignInTables, max_failures: int, window: int) -> None:
        """Requires max_failures >= 1 and window >= 1."""
        self._tables = tables
        self.max_failures = max_failures
        self.window = window
        self._prune = PruneSchedule()

    def retry_after(self, address: str, now: int) -> int:
        """Seconds the address must wait before trying again; 0 when it may try now."""
        query = sa.select(GUESSES.c.locked_until).where(GUESSES.c.address_digest == _key(address))
        with self._tables.transaction() as conn:
            locked_until = conn.execute(query).scalar()
        return 0 if locked_until is None else max(0, int(locked_until) - now)

    def failed(self, address: str, now: int) -> None:
        """Count one wrong attempt from ``address``; lock it out at the limit."""
        self._maybe_prune(now)
        with self._tables.transaction() as conn:
            conn.execute(self._count(_key(address), now))

    def succeeded(self, address: str) -> None:
        with self._tables.transaction() as conn:
            conn.execute(GUESSES.delete().where(GUESSES.c.address_digest == _key(address)))

    def _count(self, key: str, now: int) -> sa.Executable:
        # INSERT the first failure, or ON CONFLICT update the row in place: a window that has
        # passed starts afresh, the count grows by one, and reaching the limit locks the address
        # out for ``window`` from now. SET reads the old row's values (both databases).
        g, limit, window = GUESSES.c, self.max_failures, self.window
        stale = now - g.since >= window
        failures: ColumnElement[int] = sa.case((stale, 1), else_=g.failures + 1)
        since: ColumnElement[int] = sa.case((stale, now), else_=g.since)
        earlier = sa.case((stale, 0), else_=g.locked_until)
        locked: ColumnElement[int] = sa.case((failures >= limit, now + window), else_=earlier)
        first_locked = now + window if limit <= 1 else 0
        dialect = postgresql if self._tables.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(GUESSES).values(
            address_digest=key,
            failures=1,
            since=now,
            locked_until=first_locked,
            expires_at=max(now + window, first_locked),
        )
        statement: sa.Executable = insert.on_conflict_do_update(
            index_elements=[g.address_digest],
            set_={
                "failures": failures,
                "since": since,
                "locked_until": locked,
                "expires_at": sa.case((locked > since + window, locked), else_=since + window),
            },
        )
        return statement

    def _maybe_prune(self, now: int) -> None:
        if not self._prune.due(now):
            return
        with self._tables.transaction() as conn:
            conn.execute(GUESSES.delete().where(GUESSES.c.expires_at < now))
