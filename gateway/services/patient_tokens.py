"""Patient tokens: short-lived ES256 JWTs a hospital gateway issues for one patient's own view.

Issued two ways: to an app the patient signed in to (SMART App Launch, code + PKCE:
gateway.patientauth; scopes such as ``patient/*.read``, ``azp`` = the app), or minted by the back
end (``POST /patient/token``, scope ``system/PatientToken.write``, only for a patient the hospital
holds; scope ``patient/AuditEvent.read``). A token names only the pseudonymous ``patient_ref``
(no identifier, no name).

Tokens are signed with the gateway's token key, like SMART access tokens, but addressed to a
different audience (``<public_url>/patient``): neither kind passes for the other.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth import jwt
from gateway.auth.token_keys import TokenKeys
from gateway.errors import AuthError, ForbiddenError
from gateway.identity.pseudonym import patient_ref
from ledger.ids import PatientRef

PATIENT_SCOPE = "patient/AuditEvent.read"
PATIENT_TOKEN_SECONDS = 900
"""Long enough for a portal session, short enough that a leaked token soon dies."""
_PATIENT_SCOPE = re.compile(r"^patient/(\*|[A-Z][A-Za-z]{0,63})\.(read|write|\*)$")


def patient_allows(scope: str, resource: str, action: str) -> bool:
    """Whether the space-separated ``scope`` of a patient token allows ``action`` (read or
    write) on ``resource``: ``patient/<resource|*>.<action|*>``."""
    for item in scope.split():
        match = _PATIENT_SCOPE.fullmatch(item)
        if match and match.group(1) in ("*", resource) and match.group(2) in ("*", action):
            return True
    return False


@dataclass(frozen=True, slots=True)
class PatientGrant:
    """What a verified patient token allows: one patient, its scopes, the app it was issued to
    (None for a token minted by the back end)."""

    patient_ref: PatientRef
    scope: str
    client_id: str | None

    def allows(self, resource: str, action: str) -> bool:
        return patient_allows(self.scope, resource, action)


@dataclass(frozen=True, slots=True)
class PatientToken:
    access_token: str
    expires_in: int
    patient_ref: PatientRef
    scope: str = PATIENT_SCOPE


class PatientTokens:
    """Issues and checks patient tokens of the gateway at ``public_url``."""

    def __init__(
        self,
        public_url: str,
        token_key: ec.EllipticCurvePrivateKey | TokenKeys,
        patient_key: bytes,
    ) -> None:
        """``token_key``: a fixed key, or the gateway's TokenKeys (which follow rotations)."""
        self.issuer = public_url
        self.audience = f"{public_url}/patient"
        self._keys = token_key if isinstance(token_key, TokenKeys) else TokenKeys(token_key)
        self._patient_key = patient_key

    def patient_ref(self, system: str, value: str) -> PatientRef:
        """The consortium pseudonym of the patient with this identifier."""
        return patient_ref(self._patient_key, system, value)

    def issue(
        self,
        patient_ref: PatientRef,
        now: int,
        *,
        scope: str = PATIENT_SCOPE,
        lifetime: int = PATIENT_TOKEN_SECONDS,
        client_id: str | None = None,
    ) -> PatientToken:
        """A token for ``patient_ref`` valid from ``now`` (epoch seconds) for ``lifetime``
        seconds (at most PATIENT_TOKEN_SECONDS); ``client_id``: the app signed in (``azp``)."""
        lifetime = min(lifetime, PATIENT_TOKEN_SECONDS)
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": patient_ref,
            "patient_ref": patient_ref,
            "scope": scope,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(16),
        }
        if client_id is not None:
            claims["azp"] = client_id
        key, kid = self._keys.signer()
        token = jwt.sign(claims, key, kid)
        return PatientToken(token, lifetime, patient_ref, scope)

    def addressed_here(self, token: str) -> bool:
        """Whether ``token`` claims this gateway's patient audience. Unverified: it only chooses
        which verifier a route that takes several credentials runs (``check`` verifies it all),
        so that a patient's expired token is refused for its expiry, not as an unknown peer."""
        try:
            return jwt.parse(token).claims.get("aud") == self.audience
        except AuthError:
            return False

    def check(self, token: str, now: int) -> PatientRef:
        """The patient the token was issued for, when it may read the patient's audit log.
        Raises AuthError (401) or ForbiddenError (403)."""
        grant = self.check_grant(token, now)
        if not grant.allows("AuditEvent", "read"):
            raise ForbiddenError(f"scope {PATIENT_SCOPE} required")
        return grant.patient_ref

    def check_grant(self, token: str, now: int) -> PatientGrant:
        """The verified token's patient, scope and app. Raises AuthError (401)."""
        public = self._keys.verifier(jwt.unverified_kid(token), now)
        if public is None:  # another issuer's key, or a retired one past the overlap
            raise AuthError("patient token not issued by this gateway")
        subject = jwt.unverified_claim(token, "sub")
        expect = jwt.Expect(
            issuer=self.issuer,
            audience=self.audience,
            subject=subject,
            max_lifetime=PATIENT_TOKEN_SECONDS,
        )
        claims = jwt.verify(token, public, expect, now)
        if claims.get("patient_ref") != subject:
            raise AuthError("patient token subject and patient_ref differ")
        azp = claims.get("azp")
        return PatientGrant(
            PatientRef(subject), str(claims.get("scope", "")), azp if isinstance(azp, str) else None
        )
