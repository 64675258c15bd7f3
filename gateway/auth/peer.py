"""Peer gateway identity: per-request ES256 assertions, verified against the member registry.

A peer signs one short assertion per request (ARCHITECTURE.md section 5): iss = sub = its org id,
aud = the custodian's public_url, exp at most 5 minutes after iat, a unique jti, and the UDAP
hl7-b2b style claims organization_id, purpose_of_use and consent_reference. The key is looked up in
the MemberDirectory on every request, so a removed member or a retired key is refused as soon as the
directory reflects the committed block.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth import jwt
from gateway.auth.keys import kid_of
from gateway.auth.replay import ReplayCache
from gateway.errors import AuthError
from ledger.ids import Kid, OrgId

ASSERTION_LIFETIME_SECONDS = 300


class MemberDirectory(Protocol):
    """The member registry as peer authentication needs it (implemented over ledger state)."""

    def signing_key(self, org: str, kid: str) -> ec.EllipticCurvePublicKey | None:
        """The member's active signing key with this kid; None if unknown, removed or retired."""
        ...

    def is_active(self, org: str) -> bool: ...


class MemoryDirectory:
    """A MemberDirectory over a dict (embedded use, tests). Mutations apply to the next call."""

    def __init__(self) -> None:
        self._keys: dict[str, dict[str, ec.EllipticCurvePublicKey]] = {}

    def put(self, org: str, key: ec.EllipticCurvePublicKey) -> Kid:
        kid = kid_of(key)
        self._keys.setdefault(org, {})[kid] = key
        return kid

    def retire(self, org: str, kid: str) -> None:
        self._keys.get(org, {}).pop(kid, None)

    def remove(self, org: str) -> None:
        self._keys.pop(org, None)

    def signing_key(self, org: str, kid: str) -> ec.EllipticCurvePublicKey | None:
        return self._keys.get(org, {}).get(kid)

    def is_active(self, org: str) -> bool:
        return org in self._keys


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """A verified peer request: who, for what purpose, under which consent (if any), which token."""

    org: OrgId
    purpose: str
    consent_ref: str | None
    jti: str


@dataclass(frozen=True, slots=True)
class CheckedAssertion:
    """A peer assertion whose signature and claims verified; its ``jti`` is not yet spent."""

    identity: PeerIdentity
    scope: str
    """The replay cache's scope: ``peer:<org>``."""
    expires_at: int
    """Until when the jti must be remembered (``exp`` + leeway)."""


def check_peer_assertion(
    token: str, *, directory: MemberDirectory, audience: str, now: int
) -> CheckedAssertion:
    """Verify a peer assertion addressed to ``audience``, all but its jti's first use (the caller
    spends it next). Raises AuthError (answered 401)."""
    parsed = jwt.parse(token)
    org = parsed.claim("iss")
    key = directory.signing_key(org, parsed.kid) if directory.is_active(org) else None
    if key is None:
        raise AuthError("unknown member or key")
    expect = jwt.Expect(issuer=org, audience=audience)
    claims = jwt.verify(parsed, key, expect, now)
    if claims.get("organization_id") != org:
        raise AuthError("organization_id must equal the issuer")
    purpose = claims.get("purpose_of_use")
    consent = claims.get("consent_reference")
    if not isinstance(purpose, str) or not purpose:
        raise AuthError("purpose_of_use missing")
    if consent is not None and not isinstance(consent, str):
        raise AuthError("consent_reference must be a string")
    identity = PeerIdentity(OrgId(org), purpose, consent, claims["jti"])
    return CheckedAssertion(identity, f"peer:{org}", int(claims["exp"]) + expect.leeway)


def verify_peer_assertion(
    token: str, *, directory: MemberDirectory, audience: str, replay: ReplayCache, now: int
) -> PeerIdentity:
    """Verify a peer assertion addressed to ``audience`` and spend its jti (blocking: from a
    worker thread). Raises AuthError (answered 401)."""
    checked = check_peer_assertion(token, directory=directory, audience=audience, now=now)
    if not replay.first_use(checked.scope, checked.identity.jti, checked.expires_at, now):
        raise AuthError("assertion jti replayed")
    return checked.identity


def make_peer_assertion(
    key: ec.EllipticCurvePrivateKey,
    *,
    org: str,
    audience: str,
    purpose: str,
    now: int,
    consent_ref: str | None = None,
    lifetime: int = ASSERTION_LIFETIME_SECONDS,
) -> str:
    """Sign a fresh assertion for one request to the custodian at ``audience`` (its public_url).

    Requires 0 < lifetime <= 300. A new random jti each call: never reuse an assertion.
    """
    if not 0 < lifetime <= ASSERTION_LIFETIME_SECONDS:
        raise ValueError("lifetime must be within (0, 300] seconds")
    claims: dict[str, object] = {
        "iss": org,
        "sub": org,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(16),
        "organization_id": org,
        "purpose_of_use": purpose,
    }
    if consent_ref is not None:
        claims["consent_reference"] = consent_ref
    return jwt.sign(claims, key, _kid_of_signer(key))


@functools.lru_cache(maxsize=8)
def _kid_of_signer(key: ec.EllipticCurvePrivateKey) -> Kid:
    # A gateway signs every assertion with the same key: derive its kid (DER + SHA-256) once.
    return kid_of(key.public_key())
