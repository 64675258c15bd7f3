"""The authorization request of SMART App Launch (standalone): validated, then carried between the
sign-in page and the authenticator as a signed handle (ES256, this gateway's token key, 10 min),
so no replica needs to remember it and nobody can alter the redirect or the PKCE challenge.

Two kinds of refusal (RFC 6749 section 4.1.2.1): an unknown client or redirect URI is never
redirected to (BadRequestError, 400); anything else goes back to the app's redirect URI as
``error`` + ``state`` (AuthorizeRefusal).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth import jwt
from gateway.auth.keys import kid_of
from gateway.errors import AuthError, BadRequestError
from gateway.patientauth import pkce

HANDLE_SECONDS = 600
SCOPES_SUPPORTED = (
    "launch/patient",
    "openid",
    "fhirUser",
    "offline_access",
    "online_access",
    "patient/*.read",
    "patient/AuditEvent.read",
    "patient/Consent.read",
    "patient/Consent.write",
)
"""What a patient app may ask; a token carries the ``patient/`` ones it asked for."""
MAX_STATE = 512


@dataclass(frozen=True, slots=True)
class PublicClient:
    client_id: str
    redirect_uris: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuthRequest:
    client_id: str
    redirect_uri: str
    state: str
    challenge: str
    scope: str


class AuthorizeRefusal(Exception):
    """Sent back to the app: ``redirect_uri?error=...&state=...``."""

    def __init__(self, request_uri: str, state: str, error: str, description: str) -> None:
        super().__init__(description)
        self.location = with_query(
            request_uri, {"error": error, "error_description": description, "state": state}
        )


def with_query(uri: str, params: Mapping[str, str]) -> str:
    """``uri`` with ``params`` appended to its query (empty values left out)."""
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def granted_scope(requested: str) -> str:
    """The supported scopes of ``requested``, in a stable order."""
    asked = set(requested.split())
    return " ".join(s for s in SCOPES_SUPPORTED if s in asked)


def validate(
    params: Mapping[str, str], clients: Mapping[str, PublicClient], audiences: tuple[str, ...]
) -> AuthRequest:
    """The authorization request in ``params``. Raises BadRequestError (unknown client or
    redirect) or AuthorizeRefusal (everything else, sent to the app)."""
    client = clients.get(params.get("client_id", ""))
    if client is None:
        raise BadRequestError("unknown client_id")
    redirect = params.get("redirect_uri", "")
    if redirect not in client.redirect_uris:
        raise BadRequestError("redirect_uri is not registered for this client")
    state = params.get("state", "")

    def refuse(error: str, description: str) -> AuthorizeRefusal:
        return AuthorizeRefusal(redirect, state[:MAX_STATE], error, description)

    if not state or len(state) > MAX_STATE:
        raise refuse("invalid_request", f"state is required (at most {MAX_STATE} characters)")
    if params.get("response_type") != "code":
        raise refuse("unsupported_response_type", "response_type must be code")
    if params.get("code_challenge_method") not in pkce.METHODS:
        raise refuse("invalid_request", "code_challenge_method must be S256")
    challenge = params.get("code_challenge", "")
    if not pkce.challenge_ok(challenge):
        raise refuse("invalid_request", "code_challenge must be an S256 challenge")
    aud = params.get("aud")
    if aud is not None and aud.rstrip("/") not in audiences:
        raise refuse("invalid_request", "aud is not this gateway")
    scope = granted_scope(params.get("scope", ""))
    if "patient/" not in scope:
        raise refuse("invalid_scope", "ask for patient/*.read or another patient/ scope")
    return AuthRequest(client.client_id, redirect, state, challenge, scope)


class RequestHandles:
    """Signs authorization requests into handles and reads them back."""

    def __init__(self, issuer: str, key: ec.EllipticCurvePrivateKey) -> None:
        self._issuer = issuer
        self._audience = f"{issuer}/patient/authorize"
        self._key = key
        self._kid = kid_of(key.public_key())

    def sign(self, req: AuthRequest, now: int) -> str:
        claims = {
            "iss": self._issuer,
            "sub": self._issuer,
            "aud": self._audience,
            "iat": now,
            "exp": now + HANDLE_SECONDS,
            "jti": secrets.token_urlsafe(12),
            "client_id": req.client_id,
            "redirect_uri": req.redirect_uri,
            "state": req.state,
            "code_challenge": req.challenge,
            "scope": req.scope,
        }
        return jwt.sign(claims, self._key, self._kid)

    def read(self, handle: str, now: int) -> AuthRequest:
        """The request a handle carries. Raises BadRequestError when it is forged or expired."""
        try:
            expect = jwt.Expect(self._issuer, self._audience, max_lifetime=HANDLE_SECONDS)
            claims = jwt.verify(handle, self._key.public_key(), expect, now)
        except AuthError as exc:
            raise BadRequestError(
                "the sign-in request expired or is not valid; start again"
            ) from exc
        return AuthRequest(
            str(claims["client_id"]),
            str(claims["redirect_uri"]),
            str(claims["state"]),
            str(claims["code_challenge"]),
            str(claims["scope"]),
        )
