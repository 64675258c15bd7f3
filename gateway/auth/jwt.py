"""ES256-only JWT verification shared by client assertions, access tokens and peer assertions.

Every token is checked in the same order: its header must name ``alg: ES256`` and a ``kid`` (so
``none`` and HMAC never reach a key), the caller finds the key for that kid, joserfc verifies the
signature with algorithms pinned to ES256, then the claims are checked against the expected
issuer and audience with a small leeway, and the lifetime is bounded. Pure: ``now`` is an argument.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.errors import ClaimError, JoseError

from gateway.auth.keys import as_jwk
from gateway.errors import AuthError
from ledger.ids import Kid

ALGORITHMS = ["ES256"]
MAX_TOKEN_CHARS = 8192
LEEWAY_SECONDS = 30
MAX_LIFETIME_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Expect:
    """What a verified token must say; ``subject`` None means the issuer (self-issued tokens)."""

    issuer: str
    audience: str
    subject: str | None = None
    max_lifetime: int = MAX_LIFETIME_SECONDS
    leeway: int = LEEWAY_SECONDS


def _segment(token: str, index: int) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise AuthError("malformed token")
    part = token.split(".")[index]
    try:
        value = orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise AuthError("malformed token") from exc
    if not isinstance(value, dict):
        raise AuthError("malformed token")
    return value


def unverified_kid(token: str) -> Kid:
    """The header's kid, after refusing any algorithm but ES256. Checks no signature."""
    header = _segment(token, 0)
    if header.get("alg") != "ES256":
        raise AuthError("token algorithm not accepted (ES256 only)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthError("token has no kid")
    return Kid(kid)


def unverified_claim(token: str, name: str) -> str:
    """A claimed string (iss, sub), used only to choose whose keys to try; verification follows."""
    value = _segment(token, 1).get(name)
    if not isinstance(value, str) or not value:
        raise AuthError(f"token has no {name}")
    return value


def verify(token: str, key: ec.EllipticCurvePublicKey, expect: Expect, now: int) -> dict[str, Any]:
    """Verify signature and claims; return the claims. Requires ``unverified_kid`` to have passed.

    Essential: iss, sub (= expect.subject, or = iss when None), aud containing expect.audience, exp,
    iat, jti; nbf checked if present.
    """
    try:
        claims = jwt.decode(token, as_jwk(key), algorithms=ALGORITHMS).claims
    except JoseError as exc:
        raise AuthError("token signature invalid") from exc
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=expect.leeway,
        iss={"essential": True, "value": expect.issuer},
        sub={"essential": True, "value": expect.subject or expect.issuer},
        aud={"essential": True, "value": expect.audience},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except ClaimError as exc:
        raise AuthError(f"token claim {exc.claim!r} invalid") from exc
    if claims["aud"] != expect.audience:
        # One audience only: a token addressed to several gateways could be replayed at each,
        # since every gateway keeps its own jti cache.
        raise AuthError("token claim 'aud' must name this server alone")
    if claims["exp"] - claims["iat"] > expect.max_lifetime:
        raise AuthError(f"token lifetime exceeds {expect.max_lifetime} s")
    return claims


def sign(claims: dict[str, Any], key: ec.EllipticCurvePrivateKey, kid: Kid) -> str:
    """Sign ``claims`` as a compact ES256 JWT with ``kid`` in the header."""
    return jwt.encode({"alg": "ES256", "kid": kid}, claims, as_jwk(key), algorithms=ALGORITHMS)
