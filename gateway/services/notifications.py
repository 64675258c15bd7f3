"""Patient notifications: made from the ledger's blocks, shown in the portal, forwarded by e-mail
or webhook with bounded, backed-off retries, every attempt recorded.

An ``access.record`` with ``break_glass`` or the ``notify-patient`` obligation, about a patient
this member holds (its patient index knows the ref), becomes one Notification (gateway.store
.notifications): who, when, why, kind; never a resource, a value or an address. The listener is
registered on the ledger node before it starts, so every block it commits from then on (the
catch-up after a restart too) is seen; writes are idempotent by the access's tx id.

Forwarding (``Forwarder``): each configured channel gets every notification until an attempt
succeeds or ``max_attempts`` attempts failed; attempt n+1 waits ``backoff * 2**(n-1)`` after
attempt n. The e-mail address is read from the custodian's Patient resource (``telecom`` with
system ``email``) at send time and goes nowhere else: not in the table, not in a log line, not in
an attempt's detail. A patient without one is recorded as given up on the e-mail channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Protocol

import aiohttp
import orjson
from sqlalchemy.exc import IntegrityError

from gateway.services import vocabulary as words
from gateway.store.notifications import (
    FAILED,
    GAVE_UP,
    SENT,
    Attempt,
    Notification,
    NotificationTable,
    history,
)
from ledger.entries import decode_entry
from ledger.errors import LedgerError
from ledger.storage.base import BlockWrite, StoredEntry
from policies import NOTIFY_PATIENT

BREAK_GLASS = "break-glass"
NOTIFY = "notify-patient"
_log = logging.getLogger(__name__)


def notification_of(entry: StoredEntry, name_of: Callable[[str], str]) -> Notification | None:
    """The notification a committed entry calls for, or None (invalid, not an access record, or
    neither break-glass nor notify-patient). ``name_of`` gives a member's display name."""
    if entry.code != 0:
        return None
    try:
        tx = decode_entry(entry.leaf).tx
    except LedgerError:
        return None
    body = tx.get("body") or {}
    if tx.get("type") != "access.record":
        return None
    if body.get("break_glass") is True:
        kind = BREAK_GLASS
    elif NOTIFY_PATIENT.code in (body.get("obligations") or ()):
        kind = NOTIFY
    else:
        return None
    requester = str(body["requester"])
    return Notification(
        id=entry.tx_id,
        patient_ref=str(body["patient_ref"]),
        kind=kind,
        requester=requester,
        requester_name=name_of(requester),
        custodian=str(body["custodian"]),
        purpose=str(body["purpose"]),
        at_ms=int(tx["ts"]),
    )


class Notifier:
    """The block listener: stores the notifications of patients this member holds."""

    def __init__(
        self,
        table: NotificationTable,
        holds: Callable[[str], bool],
        name_of: Callable[[str], str],
    ) -> None:
        self.table = table
        self._holds = holds
        self._name_of = name_of

    def take(self, entries: Sequence[StoredEntry]) -> int:
        """Store the notifications ``entries`` call for; how many were new. Synchronous."""
        made = 0
        for entry in entries:
            note = notification_of(entry, self._name_of)
            if note is not None and self._holds(note.patient_ref) and self.table.add(note):
                made += 1
        return made

    async def on_block(self, block: BlockWrite) -> None:
        # A listener's exception would stop the ledger node: a notification store that is down
        # must not halt the consortium's log. The block is named so an operator can re-read it.
        try:
            await asyncio.to_thread(self.take, block.entries)
        except Exception as exc:
            _log.error(
                "notifications of block %d not stored: %s", block.header.height, type(exc).__name__
            )


def summary(note: Notification) -> str:
    """What a notification says in words: who, when (UTC), why, kind. No clinical data."""
    when = datetime.fromtimestamp(note.at_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    how = "in an emergency (break-glass)" if note.kind == BREAK_GLASS else "and you asked to know"
    return (
        f"{note.requester_name} accessed your health records on {when} {how}, "
        f"for {words.purpose_words(note.purpose)}. Sign in to your patient portal to see "
        "every access and its proof."
    )


class Channel(Protocol):
    """One way out. ``send`` returns a short detail on success and raises DeliveryError, whose
    message must hold no address and no PHI, on failure."""

    name: str

    async def send(self, note: Notification) -> str: ...


class DeliveryError(Exception):
    """A delivery attempt failed; ``final`` when retrying cannot help (no address)."""

    def __init__(self, detail: str, *, final: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.final = final


class EmailChannel:
    """SMTP (smtplib, in a worker thread). ``address_of`` reads the patient's e-mail address at
    the custodian; it is used for this one message and never logged."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        address_of: Callable[[str], str | None],
        *,
        starttls: bool = False,
        login: tuple[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._address_of = address_of
        self._starttls, self._login, self._timeout = starttls, login, timeout

    async def send(self, note: Notification) -> str:
        return await asyncio.to_thread(self._send, note)

    def _send(self, note: Notification) -> str:
        address = self._address_of(note.patient_ref)
        if address is None:
            raise DeliveryError("the patient has no e-mail address on record", final=True)
        msg = EmailMessage()
        msg["From"] = self._sender
        msg["To"] = address
        msg["Subject"] = "Someone accessed your health records"
        msg.set_content(summary(note))
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls()
                if self._login is not None:
                    smtp.login(*self._login)
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            # The class and SMTP code only: an SMTP error's text may echo the recipient.
            code = getattr(exc, "smtp_code", None)
            raise DeliveryError(f"smtp: {type(exc).__name__}{f' {code}' if code else ''}") from exc
        return "accepted by the SMTP server"


class WebhookChannel:
    """POSTs the notification as JSON (aiohttp): the pseudonymous patient_ref, who, when, why,
    kind; the receiver (the hospital's messaging system) knows how to reach the patient."""

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def send(self, note: Notification) -> str:
        payload = note.to_json() | {
            "patient_ref": note.patient_ref,
            "purpose_text": words.purpose_words(note.purpose),
            "text": summary(note),
        }
        del payload["read"]
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.post(
                    self._url,
                    data=orjson.dumps(payload),
                    headers={"Content-Type": "application/json"},
                ) as response,
            ):
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"webhook: {type(exc).__name__}") from exc
        if not 200 <= status < 300:
            raise DeliveryError(f"webhook: HTTP {status}")
        return f"HTTP {status}"


class Forwarder:
    """Delivers stored notifications on every channel, retrying with exponential backoff."""

    def __init__(
        self,
        table: NotificationTable,
        channels: Sequence[Channel],
        clock_ms: Callable[[], int],
        *,
        max_attempts: int = 5,
        backoff_ms: int = 30_000,
    ) -> None:
        self._table = table
        self._channels = tuple(channels)
        self._clock = clock_ms
        self._max = max_attempts
        self._backoff = backoff_ms

    def _due(self, attempts: Sequence[Attempt], channel: str, now: int) -> int | None:
        """The next attempt number if one is due now, else None."""
        made, status, at = history(attempts, channel)
        if status in (SENT, GAVE_UP) or made >= self._max:
            return None
        if at is not None and now < at + self._backoff * 2 ** (made - 1):
            return None
        return made + 1

    async def run_once(self) -> int:
        """One pass over every notification; how many attempts were made."""
        if not self._channels:
            return 0
        # Every notification is looked at: fine for the volumes a member sees (break-glass is
        # rare); an index on undelivered rows is the next step if that changes.
        notes = await asyncio.to_thread(self._table.all)
        attempts = await asyncio.to_thread(self._table.attempts)
        by_note: dict[str, list[Attempt]] = {}
        for a in attempts:
            by_note.setdefault(a.notification_id, []).append(a)
        made = 0
        for note in notes:
            for channel in self._channels:
                number = self._due(by_note.get(note.id, []), channel.name, self._clock())
                if number is not None:
                    await self._attempt(note, channel, number)
                    made += 1
        return made

    async def _attempt(self, note: Notification, channel: Channel, number: int) -> None:
        try:
            detail, status = await channel.send(note), SENT
        except DeliveryError as exc:
            final = exc.final or number >= self._max
            detail, status = exc.detail, GAVE_UP if final else FAILED
        attempt = Attempt(note.id, channel.name, number, status, detail[:256], self._clock())
        try:
            await asyncio.to_thread(self._table.record, attempt)
        except IntegrityError:
            return  # another replica made this attempt first
        _log.info("notification %s via %s: attempt %d %s", note.id, channel.name, number, status)

    async def run(self, poll_seconds: float, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, a pass every ``poll_seconds``."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:  # a pass that fails (database down) is retried on the next one
                _log.exception("notification forwarding pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_seconds)
