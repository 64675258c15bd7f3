"""Invitation codes: one-time sign-in secrets the hospital hands a patient (letter, desk, SMS).

A code reads ``HHHH-HHHH-SSSS-SSSS-SSSS-SSSS``: an 8-character public handle (the row's key; 40
bits) and a 16-character secret (80 bits), in an alphabet without look-alike characters. Only the
SHA-256 of the secret is stored. A code is single use, expires, and is refused once its handle has
seen ``max_failures`` wrong secrets (the per-code lockout); a client address that keeps failing
is locked out too (guessing.GuessLimiter). Both counts are in the database, shared by every
replica. Every refusal says the same thing, so an answer never tells a guesser which part was
wrong.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import NoReturn

from gateway.errors import AuthError, RateLimitedError
from gateway.patientauth.guessing import GuessLimiter
from gateway.patientauth.pkce import digest
from gateway.patientauth.tables import INVITATIONS, SignInTables
from ledger.ids import PatientRef

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
HANDLE_CHARS = 8
SECRET_CHARS = 16
REFUSED = "the invitation code is not valid (wrong, used or expired)"


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    code: str
    expires_at: int


def _random(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def _grouped(text: str) -> str:
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def parse(code: str) -> tuple[str, str] | None:
    """(handle, secret) of a typed code (case, spaces and dashes ignored), None if malformed."""
    flat = "".join(ch for ch in code.upper() if ch not in " -")
    if len(flat) != HANDLE_CHARS + SECRET_CHARS or any(ch not in ALPHABET for ch in flat):
        return None
    return flat[:HANDLE_CHARS], flat[HANDLE_CHARS:]


class Invitations:
    """Issues and redeems invitation codes on ``tables``."""

    def __init__(
        self, tables: SignInTables, limiter: GuessLimiter, lifetime: int, max_failures: int
    ) -> None:
        self._tables = tables
        self._limiter = limiter
        self._lifetime = lifetime
        self._max_failures = max_failures

    def issue(self, ref: PatientRef, now: int) -> IssuedInvitation:
        """A new code for ``ref`` (the caller checked the hospital holds the patient)."""
        handle, secret = _random(HANDLE_CHARS), _random(SECRET_CHARS)
        expires = now + self._lifetime
        self._tables.insert(
            INVITATIONS,
            handle=handle,
            secret_digest=digest(secret),
            patient_ref=ref,
            expires_at=expires,
            used=0,
            failures=0,
        )
        return IssuedInvitation(_grouped(handle + secret), expires)

    def redeem(self, code: str, address: str, now: int) -> PatientRef:
        """The patient the code names, the code spent. AuthError (401) for any wrong, used or
        expired code; RateLimitedError (429) while the address or the code is locked out."""
        wait = self._limiter.retry_after(address, now)
        if wait:
            raise RateLimitedError("too many wrong sign-in attempts; try later", retry_after=wait)
        parts = parse(code)
        found = None if parts is None else self._tables.invitation(parts[0])
        if parts is None or found is None:
            self._refuse(address, now)
        if found.failures >= self._max_failures:
            self._limiter.failed(address, now)
            raise RateLimitedError(
                "this invitation is locked after wrong attempts; ask for a new one"
            )
        if not hmac.compare_digest(digest(parts[1]), found.secret_digest):
            self._tables.count_failure(found.handle)
            self._refuse(address, now)
        if found.used or found.expires_at <= now:
            self._refuse(address, now)
        if not self._tables.use_once(INVITATIONS, found.handle, "handle"):
            self._refuse(address, now)
        self._limiter.succeeded(address)
        return PatientRef(found.patient_ref)

    def _refuse(self, address: str, now: int) -> NoReturn:
        self._limiter.failed(address, now)
        raise AuthError(REFUSED, error="invalid_grant")
