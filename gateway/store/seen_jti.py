"""The jti replay cache shared by every replica: a table in the member's own database.

An assertion's ``jti`` is inserted with its issuer scope (``client:<id>``, ``peer:<org>``) and the
time it stops being acceptable (its ``exp`` plus leeway). The key is unique, so of two replicas
(or two requests) presenting the same assertion exactly one insert wins: the other is the replay.
A row is kept until its expiry has passed, so a token is refused for as long as it could verify;
expired rows are deleted at most once a minute per replica, through the index on the expiry.
"""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from gateway.store.prune import PruneSchedule
from gateway.store.transactions import transaction

METADATA = sa.MetaData()

SEEN_JTI = sa.Table(
    "auth_seen_jti",
    METADATA,
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("jti_digest", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
)


Row = tuple[str, str, int]
"""(scope, jti digest, expires_at)."""


class SqlReplayCache:
    """A ``gateway.auth.replay.ReplayCache`` on ``engine`` (table created if absent). Thread-safe.

    ``first_use`` is one write transaction (call it from a worker thread). ``first_use_async``
    groups the calls made within one event-loop tick, and those arriving while a batch is being
    written, into one transaction in a worker thread: the exchange path spends a jti per request,
    and a transaction (a commit, an fsync on SQLite) per request halved its throughput."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._prune = PruneSchedule()
        self._pending: list[tuple[Row, int, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None
        with self._tx() as conn:
            METADATA.create_all(conn)

    def first_use(self, scope: str, jti: str, expires_at: int, now: int) -> bool:
        """Record ``(scope, jti)`` until ``expires_at``; True only for the first caller, in any
        replica. A row whose expiry has passed is taken over (its token can no longer verify)."""
        return self._spend([_row(scope, jti, expires_at)], now)[0]

    async def first_use_async(self, scope: str, jti: str, expires_at: int, now: int) -> bool:
        """``first_use``, written in a batch with the calls made at about the same time."""
        spent: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((_row(scope, jti, expires_at), now, spent))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="jti-group-commit")
        return await spent

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # one tick: let the callers already scheduled join this batch
        while self._pending:
            batch, self._pending = self._pending, []
            rows, now = [row for row, _, _ in batch], min(at for _, at, _ in batch)
            try:
                firsts = await asyncio.to_thread(self._spend, rows, now)
            except asyncio.CancelledError:  # stopping: nobody waiting is told yes
                for _, _, spent in batch + self._pending:
                    spent.cancel()
                self._pending = []
                raise
            except Exception as exc:  # every waiter of the batch learns of the failure
                for _, _, spent in batch:
                    if not spent.done():
                        spent.set_exception(exc)
                continue
            for (_, _, spent), first in zip(batch, firsts, strict=True):
                if not spent.done():
                    spent.set_result(first)

    def _spend(self, rows: list[Row], now: int) -> list[bool]:
        """For each row, whether it was the first use; a row repeated within ``rows`` is a
        replay of its first occurrence."""
        self._maybe_prune(now)
        unique = list(dict.fromkeys((scope, digest) for scope, digest, _ in rows))
        expiry = {(scope, digest): exp for scope, digest, exp in reversed(rows)}
        values = [
            {"scope": scope, "jti_digest": digest, "expires_at": expiry[(scope, digest)]}
            for scope, digest in unique
        ]
        with self._tx() as conn:
            won = {(r.scope, r.jti_digest) for r in conn.execute(self._claim(values, now))}
        seen: set[tuple[str, str]] = set()
        firsts = []
        for scope, digest, _ in rows:
            key = (scope, digest)
            firsts.append(key in won and key not in seen)
            seen.add(key)
        return firsts

    def _claim(self, rows: list[dict[str, object]], now: int) -> sa.Executable:
        # INSERT ... ON CONFLICT DO UPDATE ... WHERE the old row expired ... RETURNING: one atomic
        # statement that returns the rows whose jti is new (or whose old row is dead), none for a
        # live replay (a row count is not reported for INSERT by every driver).
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(SEEN_JTI).values(rows)
        statement: sa.Executable = insert.on_conflict_do_update(
            index_elements=[SEEN_JTI.c.scope, SEEN_JTI.c.jti_digest],
            set_={"expires_at": insert.excluded.expires_at},
            where=SEEN_JTI.c.expires_at < now,
        ).returning(SEEN_JTI.c.scope, SEEN_JTI.c.jti_digest)
        return statement

    def _maybe_prune(self, now: int) -> None:
        if not self._prune.due(now):
            return
        with self._tx() as conn:
            conn.execute(SEEN_JTI.delete().where(SEEN_JTI.c.expires_at < now))

    def __len__(self) -> int:
        with self._tx() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(SEEN_JTI)).scalar_one())

    def _tx(self) -> AbstractContextManager[Connection]:
        return transaction(self.engine, "the token replay store")


def _row(scope: str, jti: str, expires_at: int) -> Row:
    # The jti is the client's string, of any length: stored as its digest (fixed width).
    return scope, hashlib.sha256(jti.encode()).hexdigest(), expires_at
