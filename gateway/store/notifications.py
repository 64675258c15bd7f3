"""The patient notifications table and its delivery attempts, in the member's own database.

A notification says that an access happened which the patient must hear about (break-glass, or an
access under the notify-patient obligation): who (member id and registered name), when, why (the
purpose code), and its kind. It names the patient only by ``patient_ref`` and holds no clinical
data and no contact address: the e-mail address stays in the custodian's Patient resource and is
looked up at send time. One row per access (keyed by the access record's tx id), so replaying
blocks or several replicas seeing the same block write it once. Every delivery attempt is a row.
A notification stays ``pending`` (in a small index with the time its next attempt is due) until
every channel is done, and is leased to one replica at a time while it is being sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from gateway.store import schema
from gateway.store.transactions import transaction

METADATA = sa.MetaData()

NOTIFICATIONS = sa.Table(
    "patient_notifications",
    METADATA,
    sa.Column("id", sa.String(64), primary_key=True),  # the access record's tx id
    sa.Column("patient_ref", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("requester", sa.String(64), nullable=False),
    sa.Column("requester_name", sa.String(256), nullable=False),
    sa.Column("custodian", sa.String(64), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("read_ms", sa.BigInteger, nullable=True),
    # Forwarding: pending until every channel is done; due_ms is when the next attempt may be
    # made; the lease is the replica sending it now (gateway.services.notifications.Forwarder).
    sa.Column("pending", sa.Integer, nullable=False, default=1, server_default="1"),
    sa.Column("due_ms", sa.BigInteger, nullable=False, default=0, server_default="0"),
    sa.Column("lease_until_ms", sa.BigInteger, nullable=False, default=0, server_default="0"),
    sa.Column("lease_owner", sa.String(32), nullable=True),
    sa.Index("ix_patient_notifications_patient", "patient_ref", "at_ms"),
    sa.Index("ix_patient_notifications_pending", "pending", "due_ms"),
)
NOTE_COLUMNS = tuple(
    c
    for c in NOTIFICATIONS.columns
    if c.name not in ("pending", "due_ms", "lease_until_ms", "lease_owner")
)

DELIVERIES = sa.Table(
    "patient_notification_deliveries",
    METADATA,
    sa.Column("notification_id", sa.String(64), primary_key=True),
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("detail", sa.String(256), nullable=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
)

SENT = "sent"
FAILED = "failed"
GAVE_UP = "gave-up"
"""Final: no address to send to, or the last allowed attempt failed."""


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    patient_ref: str
    kind: str
    requester: str
    requester_name: str
    custodian: str
    purpose: str
    at_ms: int
    read_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "requester": {"org": self.requester, "name": self.requester_name},
            "custodian": self.custodian,
            "purpose": self.purpose,
            "at": self.at_ms,
            "read": self.read_ms is not None,
        }


@dataclass(frozen=True, slots=True)
class Attempt:
    notification_id: str
    channel: str
    attempt: int
    status: str
    detail: str
    at_ms: int


class NotificationTable:
    """Both tables on ``engine`` (created if absent). Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # On a database made by an earlier release, the forwarding columns are added (every
        # existing row pending: a pass looks at it once, and settles it from its attempts).
        schema.create(engine, METADATA, "the notification store")

    def add(self, note: Notification) -> bool:
        """Store ``note``; False when one for the same access exists (idempotent)."""
        row = asdict(note)
        try:
            with self._tx() as conn:
                conn.execute(NOTIFICATIONS.insert().values(**row))
        except IntegrityError:
            return False
        return True

    def for_patient(self, patient_ref: str, *, unread_only: bool = False) -> list[Notification]:
        """The patient's notifications, newest first."""
        query = sa.select(*NOTE_COLUMNS).where(NOTIFICATIONS.c.patient_ref == patient_ref)
        if unread_only:
            query = query.where(NOTIFICATIONS.c.read_ms.is_(None))
        query = query.order_by(NOTIFICATIONS.c.at_ms.desc(), NOTIFICATIONS.c.id)
        with self._tx() as conn:
            return [_note(r) for r in conn.execute(query).all()]

    def mark_read(self, patient_ref: str, note_id: str, at_ms: int) -> bool:
        """Mark the patient's notification read (the first time stands); False if the patient
        has no such notification."""
        owned = (NOTIFICATIONS.c.id == note_id) & (NOTIFICATIONS.c.patient_ref == patient_ref)
        with self._tx() as conn:
            found = conn.execute(sa.select(NOTIFICATIONS.c.id).where(owned)).first()
            unread = owned & NOTIFICATIONS.c.read_ms.is_(None)
            conn.execute(NOTIFICATIONS.update().where(unread).values(read_ms=at_ms))
        return found is not None

    def all(self) -> list[Notification]:
        with self._tx() as conn:
            query = sa.select(*NOTE_COLUMNS).order_by(NOTIFICATIONS.c.at_ms)
            return [_note(r) for r in conn.execute(query).all()]

    def due(self, now_ms: int, limit: int) -> list[str]:
        """Ids of up to ``limit`` pending notifications whose next attempt is due and that no
        replica holds, soonest due first. Reads the pending index, never the delivered rows."""
        n = NOTIFICATIONS.c
        query = (
            sa.select(n.id)
            .where(n.pending == 1, n.due_ms <= now_ms, n.lease_until_ms <= now_ms)
            .order_by(n.due_ms)
            .limit(limit)
        )
        with self._tx() as conn:
            return [str(r.id) for r in conn.execute(query)]

    def claim(self, note_id: str, owner: str, now_ms: int, until_ms: int) -> Notification | None:
        """Lease the notification to ``owner`` until ``until_ms``; the notification, or None
        when it is not due or another replica holds an unexpired lease. One conditional UPDATE:
        of replicas racing for one notification exactly one gets it."""
        n = NOTIFICATIONS.c
        free = (
            (n.id == note_id)
            & (n.pending == 1)
            & (n.due_ms <= now_ms)
            & (n.lease_until_ms <= now_ms)
        )
        update = (
            NOTIFICATIONS.update().where(free).values(lease_owner=owner, lease_until_ms=until_ms)
        )
        with self._tx() as conn:
            if conn.execute(update).rowcount != 1:
                return None
            row = conn.execute(sa.select(*NOTE_COLUMNS).where(n.id == note_id)).one()
        return _note(row)

    def release(self, note_id: str, owner: str, next_due_ms: int | None) -> None:
        """End ``owner``'s lease: the next attempt is due at ``next_due_ms``, or (None) every
        channel is done and the notification leaves the pending index. A lease that expired and
        went to another replica is left to that replica."""
        n = NOTIFICATIONS.c
        values: dict[str, Any] = {"lease_owner": None, "lease_until_ms": 0}
        values |= {"pending": 0} if next_due_ms is None else {"due_ms": next_due_ms}
        update = NOTIFICATIONS.update().where(n.id == note_id, n.lease_owner == owner)
        with self._tx() as conn:
            conn.execute(update.values(**values))

    def attempts(self, note_id: str | None = None) -> list[Attempt]:
        query = sa.select(DELIVERIES).order_by(
            DELIVERIES.c.notification_id, DELIVERIES.c.channel, DELIVERIES.c.attempt
        )
        if note_id is not None:
            query = query.where(DELIVERIES.c.notification_id == note_id)
        with self._tx() as conn:
            return [Attempt(**r._mapping) for r in conn.execute(query).all()]

    def record(self, attempt: Attempt) -> None:
        """Record one delivery attempt. Raises IntegrityError if that attempt number exists (another
        replica made it: the caller skips)."""
        with self._tx() as conn:
            conn.execute(DELIVERIES.insert().values(**asdict(attempt)))

    def _tx(self) -> AbstractContextManager[Connection]:
        return transaction(self.engine, "the notification store")


def _note(row: sa.Row[Any]) -> Notification:
    return Notification(**row._mapping)


def history(attempts: Sequence[Attempt], channel: str) -> tuple[int, str | None, int | None]:
    """For one notification's ``attempts`` on ``channel``: how many were made, the last status
    and when it was made."""
    mine = [a for a in attempts if a.channel == channel]
    if not mine:
        return 0, None, None
    last = max(mine, key=lambda a: a.attempt)
    return last.attempt, last.status, last.at_ms
