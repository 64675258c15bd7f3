"""The client side of SMART Backend Services: a token request authenticated by a signed assertion.

Used by medgate's own clients of a gateway (the operator's CLI, the demo's EHR); integrators write
theirs from docs/smart-auth.md.
"""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth import jwt
from gateway.auth.keys import kid_of
from gateway.auth.smart import ASSERTION_TYPE

ASSERTION_SECONDS = 60


def client_credentials_form(
    token_url: str, client_id: str, key: ec.EllipticCurvePrivateKey, scope: str, now: int
) -> dict[str, str]:
    """The form of a ``client_credentials`` request to ``token_url`` (``now``: epoch seconds),
    with an ES256 client assertion that expires a minute later and is never reused."""
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": now,
        "exp": now + ASSERTION_SECONDS,
        "jti": secrets.token_urlsafe(16),
    }
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": jwt.sign(claims, key, kid_of(key.public_key())),
        "scope": scope,
    }
