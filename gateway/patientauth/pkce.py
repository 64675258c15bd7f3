"""PKCE (RFC 7636), S256 only, and the one-way digests of the secrets sign-in stores.

Pure: no clock, no storage. Every secret (invitation, authorization code, refresh token) is kept
only as its SHA-256: each has at least 128 bits of randomness (an invitation's secret part 80), so
a fast hash suffices, and a copy of the database gives no usable secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
METHODS = ("S256",)
"""`plain` is refused: it gives nothing against an intercepted authorization request."""


def s256(verifier: str) -> str:
    """The S256 challenge of ``verifier``: BASE64URL(SHA256(ASCII(verifier))) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def challenge_ok(challenge: str) -> bool:
    """Whether ``challenge`` has the shape of an S256 challenge (43 base64url characters)."""
    return bool(_CHALLENGE.fullmatch(challenge))


def verifier_matches(verifier: str, challenge: str) -> bool:
    """Whether ``verifier`` is well formed (RFC 7636 section 4.1) and hashes to ``challenge``;
    compared in constant time."""
    if not _VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256(verifier), challenge)


def new_secret(nbytes: int = 32) -> str:
    """A fresh random secret, base64url (``nbytes`` of randomness)."""
    return secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    """The hex SHA-256 a secret is stored and looked up by (never the secret itself)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
