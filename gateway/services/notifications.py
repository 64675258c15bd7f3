"""Patient notifications: made from the ledger's blocks, shown in the portal, forwarded by e-mail
or webhook with bounded, backed-off retries, every attempt recorded.

An ``access.record`` with ``break_glass`` or the ``notify-patient`` obligation, about a patient
this member holds (its patient index knows the ref), becomes one Notification (gateway.store
.notifications): who, when, why, kind; never a resource, a value or an address. The listener is
registered on the ledger node before it starts, so every block it commits from then on (the
catch-up after a restart too) is seen; writes are idempotent by the access's tx id.

Forwarding (``Forwarder``): each configured channel gets every notification until an attempt
succeeds or ``max_attempts`` attempts failed; attempt n+1 waits ``backoff * 2**(n-1)`` after
attempt n. A pass reads only pending notifications that are due (an index), and sends each one
under a lease taken by a conditional UPDATE, so of N replicas exactly one sends it. The e-mail
address is read from the custodian's Patient resource (``telecom`` with system ``email``) at
send time and goes nowhere else: not in the table, not in a log line, not in an attempt's
detail. A patient without one is recorded as given up on the e-mail channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
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
    """Delivers stored notifications on every channel, retrying with exponential backoff. Several
    replicas may run one each over the same table: a notification is sent by the one replica
    holding its lease (``lease_ms`` long, from the injected clock), so once per attempt; a lease
    whose replica died runs out and another replica makes the attempt."""

    def __init__(
        self,
        table: NotificationTable,
        channels: Sequence[Channel],
        clock_ms: Callable[[], int],
        *,
        max_attempts: int = 5,
        backoff_ms: int = 30_000,
        lease_ms: int = 120_000,
        batch: int = 100,
    ) -> None:
        """Requires lease_ms longer than one notification's sends on every channel take."""
        self._table = table
        self._channels = tuple(channels)
        self._clock = clock_ms
        self._max = max_attempts
        self._backoff = backoff_ms
        self._lease = lease_ms
        self._batch = batch
        self.owner = secrets.token_hex(8)
        """This forwarder's name on the leases it holds."""

    def _finished(self, made: int, status: str | None) -> bool:
        return status in (SENT, GAVE_UP) or made >= self._max

    def _due(self, attempts: Sequence[Attempt], channel: str, now: int) -> int | None:
        """The next attempt number if one is due now, else None."""
        made, status, at = history(attempts, channel)
        if self._finished(made, status):
            return None
        if at is not None and now < at + self._backoff * 2 ** (made - 1):
            return None
        return made + 1

    def _next_due(self, attempts: Sequence[Attempt]) -> int | None:
        """When the next attempt on any channel may be made; None when every channel is done."""
        times = []
        for channel in self._channels:
            made, status, at = history(attempts, channel.name)
            if not self._finished(made, status):
                times.append(0 if at is None else at + self._backoff * 2 ** (made - 1))
        return min(times, default=None)

    async def run_once(self) -> int:
        """One pass over up to ``batch`` notifications due now; how many attempts were made."""
        if not self._channels:
            return 0
        due = await asyncio.to_thread(self._table.due, self._clock(), self._batch)
        made = 0
        for note_id in due:
            now = self._clock()
            note = await asyncio.to_thread(
                self._table.claim, note_id, self.owner, now, now + self._lease
            )
            if note is not None:  # else another replica holds it, or sent it meanwhile
                made += await self._deliver(note)
        return made

    async def _deliver(self, note: Notification) -> int:
        """Every attempt due now on ``note`` (leased to this forwarder), then the lease ended
        with the time the next one is due; how many attempts were made."""
        attempts = await asyncio.to_thread(self._table.attempts, note.id)
        made = 0
        for channel in self._channels:
            number = self._due(attempts, channel.name, self._clock())
            if number is not None:
                await self._attempt(note, channel, number)
                made += 1
        attempts = await asyncio.to_thread(self._table.attempts, note.id)
        next_due = self._next_due(attempts)
        await asyncio.to_thread(self._table.release, note.id, self.owner, next_due)
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
            return  # this lease ran out and another replica made the attempt first
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
