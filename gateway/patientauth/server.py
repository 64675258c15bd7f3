"""The patient's authorisation server: authorization codes out, patient tokens in exchange.

- A code is issued once an authenticator proved who the patient is: random, stored as its digest,
  single use, ``code_seconds`` long, bound to the client, the redirect URI and the PKCE challenge.
- ``authorization_code`` grant: the code is spent first (a second use is refused, and the session
  it started is revoked: RFC 6749 section 4.1.2), then client, redirect URI and verifier must match.
- ``refresh_token`` grant: each refresh token is single use; a fresh one comes with each answer.
  Presenting a spent one revokes the whole session (refresh token rotation with reuse detection,
  RFC 9700 section 4.14.2), but within ``REUSE_GRACE_SECONDS`` of its rotation, by the same
  client, while that successor is unspent, it answers the successor already issued (two tabs
  refreshing at once). A session ends ``refresh_seconds`` after sign-in, whatever happens.
Refusals are OAuthErrors (RFC 6749 section 5.2 bodies).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import OAuthCode, OAuthError
from gateway.patientauth import pkce
from gateway.patientauth.requests import AuthRequest, PublicClient, with_query
from gateway.patientauth.successor import open_sealed, seal
from gateway.patientauth.tables import CODES, REFRESH, SignInTables
from gateway.services.patient_tokens import PatientTokens
from ledger.ids import PatientRef

GRANT_TYPES = ("authorization_code", "refresh_token")
REUSE_GRACE_SECONDS = 10
"""How long after a refresh token is spent a second use (the same client's other tab) gets the
successor already issued instead of ending the session."""


@dataclass(frozen=True, slots=True)
class Lifetimes:
    code: int
    access: int
    refresh: int


def _invalid_grant(description: str) -> OAuthError:
    return OAuthError(OAuthCode.INVALID_GRANT, description)


def _successor_in_grace(row: Mapping[str, Any], token: str, now: int) -> str | None:
    """The successor of the spent refresh token ``token`` (its ``row``), if it was spent at most
    ``REUSE_GRACE_SECONDS`` ago."""
    used_at, sealed = row["used_at"], row["successor"]
    if used_at is None or sealed is None or now - int(used_at) > REUSE_GRACE_SECONDS:
        return None
    return open_sealed(token, str(sealed))


class PatientAuthServer:
    """Codes and token grants on ``tables``; tokens from ``tokens``."""

    def __init__(
        self,
        tables: SignInTables,
        tokens: PatientTokens,
        clients: Mapping[str, PublicClient],
        lifetimes: Lifetimes,
    ) -> None:
        self._tables = tables
        self._tokens = tokens
        self.clients = dict(clients)
        self._life = lifetimes

    def issue_code(self, req: AuthRequest, ref: PatientRef, now: int) -> str:
        """The URL the browser goes back to: the app's redirect URI with ``code`` and ``state``."""
        code = pkce.new_secret()
        self._tables.insert(
            CODES,
            digest=pkce.digest(code),
            client_id=req.client_id,
            redirect_uri=req.redirect_uri,
            challenge=req.challenge,
            patient_ref=ref,
            scope=req.scope,
            family=pkce.new_secret(16),
            expires_at=now + self._life.code,
            used=0,
        )
        return with_query(req.redirect_uri, {"code": code, "state": req.state})

    def token(self, form: Mapping[str, str], now: int) -> dict[str, Any]:
        """Answer a token request form (authorization_code or refresh_token). Raises OAuthError."""
        grant_type = form.get("grant_type")
        if grant_type not in GRANT_TYPES:
            raise OAuthError(
                OAuthCode.UNSUPPORTED_GRANT_TYPE, "authorization_code or refresh_token"
            )
        client_id = form.get("client_id", "")
        if client_id not in self.clients:
            raise OAuthError(OAuthCode.INVALID_CLIENT, "unknown client_id")
        if grant_type == "authorization_code":
            return self._code_grant(form, client_id, now)
        return self._refresh_grant(form, client_id, now)

    def _code_grant(self, form: Mapping[str, str], client_id: str, now: int) -> dict[str, Any]:
        digest = pkce.digest(form.get("code", ""))
        row = self._tables.row(CODES, digest)
        if row is None:
            raise _invalid_grant("unknown authorization code")
        if not self._tables.use_once(CODES, digest):
            self._tables.revoke_family(str(row["family"]))
            raise _invalid_grant("authorization code already used; its session is revoked")
        if int(row["expires_at"]) <= now:
            raise _invalid_grant("authorization code expired")
        if not hmac.compare_digest(str(row["client_id"]), client_id):
            raise _invalid_grant("authorization code issued to another client")
        if form.get("redirect_uri") != row["redirect_uri"]:
            raise _invalid_grant("redirect_uri differs from the authorization request's")
        if not pkce.verifier_matches(form.get("code_verifier", ""), str(row["challenge"])):
            raise _invalid_grant("code_verifier does not match the code_challenge")
        refresh = self._new_refresh(row, str(row["family"]), now + self._life.refresh)
        return self._answer(row, refresh, now)

    def _refresh_grant(self, form: Mapping[str, str], client_id: str, now: int) -> dict[str, Any]:
        token = form.get("refresh_token", "")
        digest = pkce.digest(token)
        row = self._tables.row(REFRESH, digest)
        if row is None or not hmac.compare_digest(str(row["client_id"]), client_id):
            raise _invalid_grant("unknown refresh token")
        family = str(row["family"])
        # Revoked first, then spent: of two racing uses exactly one spends it; the other gets
        # the same successor within the grace window, and after it revokes the session.
        if self._tables.revoked(family):
            raise _invalid_grant("the session was revoked")
        if int(row["expires_at"]) <= now:
            raise _invalid_grant("the session expired; sign in again")
        successor = pkce.new_secret()
        new_row = dict(row, digest=pkce.digest(successor), used=0, used_at=None, successor=None)
        if not self._tables.rotate(digest, now, seal(token, successor), new_row):
            return self._reused(token, digest, family, now)
        return self._answer(row, successor, now)

    def _reused(self, token: str, digest: str, family: str, now: int) -> dict[str, Any]:
        """A spent refresh token presented again: within ``REUSE_GRACE_SECONDS`` of its rotation,
        and while its successor is unspent, the answer carries that same successor (two tabs
        refreshing at once); otherwise the session is revoked (RFC 9700 section 4.14.2)."""
        row = self._tables.row(REFRESH, digest)
        successor = None if row is None else _successor_in_grace(row, token, now)
        if row is not None and successor is not None:
            next_row = self._tables.row(REFRESH, pkce.digest(successor))
            if next_row is not None and not next_row["used"] and not self._tables.revoked(family):
                return self._answer(row, successor, now)
        self._tables.revoke_family(family)
        raise _invalid_grant("refresh token already used; the session is revoked")

    def _new_refresh(self, row: Mapping[str, Any], family: str, session_end: int) -> str:
        """A first refresh token of a session (the code grant's), stored."""
        refresh = pkce.new_secret()
        self._tables.insert(
            REFRESH,
            digest=pkce.digest(refresh),
            family=family,
            client_id=str(row["client_id"]),
            patient_ref=str(row["patient_ref"]),
            scope=str(row["scope"]),
            expires_at=session_end,
            used=0,
        )
        return refresh

    def _answer(self, row: Mapping[str, Any], refresh: str, now: int) -> dict[str, Any]:
        ref, client_id, scope = (
            PatientRef(str(row["patient_ref"])),
            str(row["client_id"]),
            str(row["scope"]),
        )
        patient_scope = " ".join(s for s in scope.split() if s.startswith("patient/"))
        issued = self._tokens.issue(
            ref, now, scope=patient_scope, lifetime=self._life.access, client_id=client_id
        )
        return {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": scope,
            "refresh_token": refresh,
            "patient": ref,
            "patient_ref": ref,
        }

    def revoke(self, form: Mapping[str, str]) -> None:
        """RFC 7009: end the session of a refresh token (unknown tokens are ignored)."""
        row = self._tables.row(REFRESH, pkce.digest(form.get("token", "")))
        if row is not None and hmac.compare_digest(
            str(row["client_id"]), form.get("client_id", "")
        ):
            self._tables.revoke_family(str(row["family"]))
