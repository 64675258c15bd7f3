"""Patient tokens: short-lived ES256 JWTs a hospital gateway issues for one patient's own audit view.

Real-world binding: the hospital's patient portal authenticates the patient (its own login, identity
proofing), then its backend (a SMART client of this gateway holding ``system/Patient.read``) calls
``POST /patient/token`` with the patient's identifier. The token names only the pseudonymous
``patient_ref`` (no identifier, no name) and one scope, ``patient/AuditEvent.read``.

Tokens are signed with the gateway's token key, like SMART access tokens, but addressed to a
different audience (``<public_url>/patient``): neither kind passes for the other.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth import jwt
from gateway.auth.keys import kid_of
from gateway.errors import AuthError, ForbiddenError
from gateway.identity.pseudonym import patient_ref
from ledger.ids import PatientRef

PATIENT_SCOPE = "patient/AuditEvent.read"
PORTAL_SCOPES = f"{PATIENT_SCOPE} patient/Consent.read patient/Consent.write"
"""What a portal session may do: read its log, read and change its own consents."""
PATIENT_TOKEN_SECONDS = 900
"""Long enough for a portal session, short enough that a leaked token soon dies."""


@dataclass(frozen=True, slots=True)
class PatientToken:
    access_token: str
    expires_in: int
    patient_ref: PatientRef
    scope: str = PATIENT_SCOPE


class PatientTokens:
    """Issues and checks patient tokens of the gateway at ``public_url``."""

    def __init__(
        self, public_url: str, token_key: ec.EllipticCurvePrivateKey, patient_key: bytes
    ) -> None:
        self.issuer = public_url
        self.audience = f"{public_url}/patient"
        self._key = token_key
        self._kid = kid_of(token_key.public_key())
        self._patient_key = patient_key

    def patient_ref(self, system: str, value: str) -> PatientRef:
        """The consortium pseudonym of the patient with this identifier."""
        return patient_ref(self._patient_key, system, value)

    def issue(self, patient_ref: PatientRef, now: int) -> PatientToken:
        """A token for ``patient_ref`` valid from ``now`` (epoch seconds)."""
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": patient_ref,
            "patient_ref": patient_ref,
            "scope": PORTAL_SCOPES,
            "iat": now,
            "exp": now + PATIENT_TOKEN_SECONDS,
            "jti": secrets.token_urlsafe(16),
        }
        token = jwt.sign(claims, self._key, self._kid)
        return PatientToken(token, PATIENT_TOKEN_SECONDS, patient_ref, PORTAL_SCOPES)

    def addressed_here(self, token: str) -> bool:
        """Whether ``token`` claims this gateway's patient audience. Unverified: it only chooses
        which verifier a route that takes several credentials runs (``check`` verifies it all),
        so that a patient's expired token is refused for its expiry, not as an unknown peer."""
        try:
            return jwt.parse(token).claims.get("aud") == self.audience
        except AuthError:
            return False

    def check(self, token: str, now: int) -> PatientRef:
        """The patient the token was issued for. Raises AuthError (401) or ForbiddenError (403)."""
        if jwt.unverified_kid(token) != self._kid:
            raise AuthError("patient token not issued by this gateway")
        subject = jwt.unverified_claim(token, "sub")
        expect = jwt.Expect(
            issuer=self.issuer,
            audience=self.audience,
            subject=subject,
            max_lifetime=PATIENT_TOKEN_SECONDS,
        )
        claims = jwt.verify(token, self._key.public_key(), expect, now)
        if claims.get("patient_ref") != subject:
            raise AuthError("patient token subject and patient_ref differ")
        if PATIENT_SCOPE not in str(claims.get("scope", "")).split():
            raise ForbiddenError(f"scope {PATIENT_SCOPE} required")
        return PatientRef(subject)
