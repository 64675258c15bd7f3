"""A rotated refresh token's successor, kept sealed to the token it replaced (pure).

Two tabs of one app refreshing at once present the same refresh token twice; the second, within a
few seconds, should get the successor the first got rather than end the session. The store keeps
refresh tokens only as digests, so the successor is kept encrypted under a key derived from the
spent token itself (HKDF-SHA256, its own label, so the stored digest says nothing of it; AES-GCM).
Only a holder of the spent token, who could have spent it, can open it; a copy of the database
cannot.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"medgate/patient-refresh-successor/v1"
_NONCE = 12
SEALED_MAX = 128
"""Characters of a sealed 43-character successor (96), with room."""


def _box(spent: str) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO)
    return AESGCM(hkdf.derive(spent.encode("utf-8")))


def seal(spent: str, successor: str) -> str:
    """``successor`` encrypted under a key only ``spent`` gives (base64url)."""
    nonce = os.urandom(_NONCE)
    sealed = nonce + _box(spent).encrypt(nonce, successor.encode("utf-8"), _INFO)
    return base64.urlsafe_b64encode(sealed).decode("ascii")


def open_sealed(spent: str, sealed: str) -> str | None:
    """The successor ``sealed`` holds, or None when ``spent`` is not the token it was sealed to
    (or the value was altered)."""
    try:
        raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
        plain = _box(spent).decrypt(raw[:_NONCE], raw[_NONCE:], _INFO)
    except (ValueError, InvalidTag):
        return None
    return plain.decode("utf-8")
