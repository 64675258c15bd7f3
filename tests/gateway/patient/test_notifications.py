"""Notifications: a real break-glass query (hospital-a asks insurer-b for the patient's records
with the glass broken) about a patient the hospital holds becomes a notification the patient reads
(and marks read) through the API, forwarded by e-mail to a real SMTP server and to a real webhook
that fails once (retried, every attempt recorded); no clinical data in any of it, and the e-mail
address in no log line. A channel that keeps failing is given up on."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.services.notifications import EmailChannel, Forwarder, WebhookChannel
from gateway.settings import NotificationSettings
from gateway.store.notifications import FAILED, GAVE_UP, SENT, Notification, NotificationTable
from tests.gateway.audit.harness import Consortium
from tests.gateway.patient.harness import (
    EMAIL,
    HOSPITAL,
    NAMES,
    break_glass,
    patient_headers,
    portal_consortium,
)
from tests.gateway.patient.receivers import Hook, Mailbox, smtp_server, webhook

pytestmark = pytest.mark.e2e
POLLS = 1500  # x 20 ms


def wait(probe: Any, what: str) -> Any:
    for _ in range(POLLS):
        found = probe()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Consortium, Mailbox, Hook]]:
    with smtp_server() as (port, box), webhook(fail_first=1) as (url, hook):
        cfg = NotificationSettings(
            smtp_host="127.0.0.1",
            smtp_port=port,
            mail_from="portal@hospital-a.test",
            webhook_url=url,
            backoff_seconds=0.05,
            poll_seconds=0.05,
            max_attempts=3,
        )
        with portal_consortium(tmp_path_factory.mktemp("notes"), cfg) as c:
            yield c, box, hook


def test_break_glass_is_notified_forwarded_and_marked_read(
    world: tuple[Consortium, Mailbox, Hook], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    c, box, hook = world
    url = c.urls[HOSPITAL]
    tx = break_glass(c)
    headers = patient_headers(c)

    def listed() -> list[dict[str, Any]]:
        answer = httpx.get(f"{url}/patient/notifications", headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        return [n for n in answer.json()["notifications"] if n["id"] == tx]

    note = wait(listed, "the notification")[0]
    assert note["kind"] == "break-glass"
    assert note["requester"] == {"org": HOSPITAL, "name": NAMES[HOSPITAL]}
    assert note["purpose_text"] == "emergency treatment"
    assert note["read"] is False
    assert "Observation" not in str(note)  # what was accessed is not in a notification

    wait(lambda: box.messages, "the e-mail")
    to, mail = box.messages[0]
    assert to == [EMAIL]
    text = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert f"{NAMES[HOSPITAL]} accessed your health records" in text
    assert "emergency (break-glass)" in text
    assert "emergency treatment" in text
    assert "Observation" not in text

    wait(lambda: len(hook.bodies) >= 2, "the webhook's retry")
    assert hook.bodies[0] == hook.bodies[1]
    body = hook.bodies[1]
    assert body["id"] == tx
    assert body["patient_ref"] == c.ref
    assert EMAIL not in str(body)
    assert "Observation" not in str(body)

    table = NotificationTable(_engine(c))
    attempts = wait(
        lambda: (
            [a for a in table.attempts(tx) if a.status == SENT and a.channel == "webhook"]
            and table.attempts(tx)
        ),
        "the recorded attempts",
    )
    by_channel = {(a.channel, a.attempt): a.status for a in attempts}
    assert by_channel == {("email", 1): SENT, ("webhook", 1): FAILED, ("webhook", 2): SENT}
    assert [a.detail for a in attempts if a.channel == "webhook"] == [
        "webhook: HTTP 503",
        "HTTP 204",
    ]
    table.engine.dispose()

    read = httpx.post(f"{url}/patient/notifications/{tx}/read", headers=headers, timeout=30)
    assert read.status_code == 200
    assert listed()[0]["read"] is True
    unknown = f"{url}/patient/notifications/{'0' * 64}/read"
    assert httpx.post(unknown, headers=headers, timeout=30).status_code == 404
    no_csrf = patient_headers(c, csrf=False)
    refused = httpx.post(f"{url}/patient/notifications/{tx}/read", headers=no_csrf, timeout=30)
    assert refused.status_code == 403
    # The gateway's own lines (the test's SMTP server logs the dialogue; it is not the gateway).
    ours = [r for r in caplog.records if r.name.startswith(("gateway", "medgate", "ledger"))]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert "attempt 1 sent" in logged  # the forwarder's lines were captured...
    assert EMAIL not in logged  # ...and none names the address


def _engine(c: Consortium) -> Any:
    import sqlalchemy as sa

    return sa.create_engine(c.settings[HOSPITAL].storage.url)


def test_a_failing_channel_is_retried_with_backoff_then_given_up(tmp_path: Path) -> None:
    table = NotificationTable.__new__(NotificationTable)
    import sqlalchemy as sa

    NotificationTable.__init__(table, sa.create_engine(f"sqlite:///{tmp_path / 'n.db'}"))
    note = Notification(
        "a" * 64, "ref", "notify-patient", "insurer-b", "Insurer B", "h", "HPAYMT", 1
    )
    table.add(note)
    assert table.add(note) is False  # one notification per access
    now = [1_000_000]
    with webhook(fail_first=99) as (url, hook):
        channels = [
            WebhookChannel(url, timeout=5),
            EmailChannel("127.0.0.1", 1, "x@y", lambda _: None),  # nobody to write to
        ]
        forwarder = Forwarder(table, channels, lambda: now[0], max_attempts=3, backoff_ms=1000)

        async def passes() -> list[int]:
            made = [await forwarder.run_once()]
            made.append(await forwarder.run_once())  # too early: the backoff holds it
            now[0] += 1000
            made.append(await forwarder.run_once())
            now[0] += 1999  # the second wait is twice the first
            made.append(await forwarder.run_once())
            now[0] += 1
            made.append(await forwarder.run_once())
            now[0] += 100_000
            made.append(await forwarder.run_once())  # given up: nothing more
            return made

        made = asyncio.run(passes())
    assert made == [2, 0, 1, 0, 1, 0]
    assert len(hook.bodies) == 3
    statuses = [(a.channel, a.attempt, a.status) for a in table.attempts(note.id)]
    assert statuses == [
        ("email", 1, GAVE_UP),
        ("webhook", 1, FAILED),
        ("webhook", 2, FAILED),
        ("webhook", 3, GAVE_UP),
    ]
    table.engine.dispose()
