"""Two replicas forwarding notifications over one PostgreSQL: each notification reaches the real
SMTP server and the real webhook exactly once, however the two forwarders' passes interleave; a
replica that dies holding a notification delays it by one lease, then the other sends it; a
database made by an earlier release (no forwarding columns) is upgraded in place, what it had
sent is not sent again and what it had not is."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.services.notifications import Channel, EmailChannel, Forwarder, WebhookChannel
from gateway.store.notifications import SENT, Attempt, Notification, NotificationTable
from tests.gateway.patient.receivers import Hook, Mailbox, smtp_server, webhook

NOTES = 24
PASSES = 200  # per forwarder, each bounded; far more than the notes need
LEASE_MS = 60_000


def note(n: int) -> Notification:
    return Notification(
        f"{n:064x}", f"ref-{n}", "break-glass", "insurer-b", "Insurer B", "hospital-a", "ETREAT", n
    )


def address_of(ref: str) -> str:
    return f"{ref}@patients.example"


@pytest.fixture
def sinks() -> Iterator[tuple[int, Mailbox, str, Hook]]:
    with smtp_server() as (port, box), webhook() as (url, hook):
        yield port, box, url, hook


def forwarder(
    table: NotificationTable, sinks: tuple[int, Mailbox, str, Hook], clock: Callable[[], int]
) -> Forwarder:
    port, _, url, _ = sinks
    channels: list[Channel] = [
        EmailChannel("127.0.0.1", port, "portal@hospital-a.test", address_of, timeout=10),
        WebhookChannel(url, timeout=10),
    ]
    return Forwarder(table, channels, clock, lease_ms=LEASE_MS, batch=5)


def delivered(table: NotificationTable) -> set[str]:
    """Ids whose e-mail and webhook attempts both succeeded."""
    sent = Counter(a.notification_id for a in table.attempts() if a.status == SENT)
    return {note_id for note_id, channels in sent.items() if channels == 2}


def test_two_forwarders_deliver_each_notification_exactly_once(
    pg_url: str, sinks: tuple[int, Mailbox, str, Hook]
) -> None:
    tables = [NotificationTable(sa.create_engine(pg_url)) for _ in range(2)]
    for n in range(NOTES):
        assert tables[0].add(note(n))
    clock = lambda: 1_000_000  # noqa: E731 - every attempt is due at once, nothing is retried
    everyone = {note(n).id for n in range(NOTES)}
    made: list[int] = []

    def replica(table: NotificationTable) -> None:
        async def passes() -> int:
            mine = 0
            f = forwarder(table, sinks, clock)
            for _ in range(PASSES):
                mine += await f.run_once()
                if delivered(table) == everyone:
                    break
            return mine

        made.append(asyncio.run(passes()))

    threads = [threading.Thread(target=replica, args=(t,)) for t in tables]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)

    _, box, _, hook = sinks
    assert sum(made) == 2 * NOTES  # one e-mail and one webhook attempt per notification
    mailed = Counter(rcpt for rcpts, _ in box.messages for rcpt in rcpts)
    assert mailed == Counter(address_of(note(n).patient_ref) for n in range(NOTES))
    assert Counter(body["id"] for body in hook.bodies) == Counter(everyone)
    assert delivered(tables[0]) == everyone
    for t in tables:
        t.engine.dispose()


def test_a_dead_replicas_lease_runs_out_then_the_other_sends(
    pg_url: str, sinks: tuple[int, Mailbox, str, Hook]
) -> None:
    table = NotificationTable(sa.create_engine(pg_url))
    table.add(note(1))
    now = [5_000_000]
    # Replica A leased the notification, then died before sending anything.
    assert table.claim(note(1).id, "replica-a", now[0], now[0] + LEASE_MS) is not None
    other = NotificationTable(sa.create_engine(pg_url))
    b = forwarder(other, sinks, lambda: now[0])
    assert asyncio.run(b.run_once()) == 0  # A's lease holds
    now[0] += LEASE_MS - 1
    assert asyncio.run(b.run_once()) == 0
    now[0] += 1
    assert asyncio.run(b.run_once()) == 2  # A's lease ran out: B sends on both channels
    assert asyncio.run(b.run_once()) == 0  # delivered: never again
    _, box, _, hook = sinks
    assert len(box.messages) == 1
    assert [body["id"] for body in hook.bodies] == [note(1).id]
    table.engine.dispose()
    other.engine.dispose()


OLD = sa.MetaData()
OLD_NOTIFICATIONS = sa.Table(  # the table as the previous release created it
    "patient_notifications",
    OLD,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("patient_ref", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("requester", sa.String(64), nullable=False),
    sa.Column("requester_name", sa.String(256), nullable=False),
    sa.Column("custodian", sa.String(64), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("read_ms", sa.BigInteger, nullable=True),
    sa.Index("ix_patient_notifications_patient", "patient_ref", "at_ms"),
)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_of_the_previous_release_is_upgraded_in_place(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    sinks: tuple[int, Mailbox, str, Hook],
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
    engine = sa.create_engine(url)
    OLD.create_all(engine)
    with engine.begin() as conn:
        for n in (1, 2):
            row = note(n)
            conn.execute(
                OLD_NOTIFICATIONS.insert().values(
                    **{c.name: getattr(row, c.name) for c in OLD_NOTIFICATIONS.c}
                )
            )
    tables = [NotificationTable(engine), NotificationTable(engine)]  # two replicas upgrading
    table = tables[0]
    for channel in ("email", "webhook"):  # note 1 was delivered by the previous release
        table.record(Attempt(note(1).id, channel, 1, SENT, "ok", 1))
    f = forwarder(table, sinks, lambda: 9_000_000)
    assert asyncio.run(f.run_once()) == 2  # note 2 on both channels; note 1 settled unsent
    assert asyncio.run(f.run_once()) == 0
    _, box, _, hook = sinks
    assert [body["id"] for body in hook.bodies] == [note(2).id]
    assert len(box.messages) == 1
    assert table.due(9_000_000, 10) == []
    if backend == "sqlite":  # the pass reads the pending index, not every notification
        with engine.connect() as conn:
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM patient_notifications "
                "WHERE pending = 1 AND due_ms <= 5 AND lease_until_ms <= 5 ORDER BY due_ms"
            ).all()
        assert "ix_patient_notifications_pending" in str(plan)
    engine.dispose()
