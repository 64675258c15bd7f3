"""Patient notifications wired for one gateway: the table in the member's database, the block
listener on its ledger node, and the forwarder over the channels its settings configure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from gateway.services.notifications import (
    Channel,
    EmailChannel,
    Forwarder,
    Notifier,
    WebhookChannel,
)
from gateway.services.timeline import member_name
from gateway.settings import NotificationSettings
from gateway.store.fhir_store import FhirStore
from gateway.store.notifications import NotificationTable
from gateway.store.patient_refs import PatientRefTable
from ledger.statekv import StateReader

LEASE_MIN_S = 120.0


@dataclass(frozen=True, slots=True)
class Notices:
    table: NotificationTable
    notifier: Notifier
    forwarder: Forwarder
    poll_seconds: float


def email_of(store: FhirStore, index: PatientRefTable) -> Callable[[str], str | None]:
    """Reads the patient's e-mail address from their Patient resource at this custodian."""

    def lookup(patient_ref: str) -> str | None:
        for local_id in index.local_ids(patient_ref):
            found = store.read("Patient", local_id)
            telecom = [] if found is None else orjson.loads(found.body).get("telecom") or []
            for point in telecom:
                if point.get("system") == "email" and isinstance(point.get("value"), str):
                    return str(point["value"])
        return None

    return lookup


def channels(cfg: NotificationSettings, address_of: Callable[[str], str | None]) -> list[Channel]:
    out: list[Channel] = []
    if cfg.smtp_host is not None:
        login = None
        if cfg.smtp_username is not None:
            login = (cfg.smtp_username, cfg.smtp_password or "")
        out.append(
            EmailChannel(
                cfg.smtp_host,
                cfg.smtp_port,
                cfg.mail_from,
                address_of,
                starttls=cfg.smtp_starttls,
                login=login,
                timeout=cfg.timeout_seconds,
            )
        )
    if cfg.webhook_url is not None:
        out.append(WebhookChannel(cfg.webhook_url, timeout=cfg.timeout_seconds))
    return out


def lease_ms(cfg: NotificationSettings, channel_count: int) -> int:
    """How long one replica holds a notification it is sending: well beyond every channel's
    timeout (an SMTP dialogue is several timed steps), at least two minutes. A replica that dies
    mid-send delays that notification by this much; one whose sends outlast it may, rarely, see
    another replica send the same message again."""
    return int(max(LEASE_MIN_S, 4 * channel_count * cfg.timeout_seconds) * 1000)


def open_notices(
    cfg: NotificationSettings,
    store: FhirStore,
    ledger_store: StateReader,
    clock_ms: Callable[[], int],
) -> Notices:
    """Notifications of this member (register ``notifier.on_block`` on the ledger node before it
    starts; run ``forwarder`` while the app runs)."""
    table = NotificationTable(store.engine)
    index = PatientRefTable(store.engine)
    notifier = Notifier(
        table,
        holds=lambda ref: bool(index.local_ids(ref)),
        name_of=lambda org: member_name(ledger_store, org),
    )
    out = channels(cfg, email_of(store, index))
    forwarder = Forwarder(
        table,
        out,
        clock_ms,
        max_attempts=cfg.max_attempts,
        backoff_ms=int(cfg.backoff_seconds * 1000),
        lease_ms=lease_ms(cfg, len(out)),
    )
    return Notices(table, notifier, forwarder, cfg.poll_seconds)
