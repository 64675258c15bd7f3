"""Keyed pseudonyms for de-identified releases: the member's release key and the per-recipient map.

The key is derived (HKDF-SHA256) from the member's signing key: a secret no other member holds,
unlike the consortium's shared patient key, so no recipient can recompute a pseudonym from a guessed
id (an MRN, a name). A pseudonym is the same for the same id and recipient, release after release,
so a recipient can link one patient's records over time; two recipients get unlinkable ones. A new
signing key (rotation) starts new pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

RELEASE_KEY_INFO = b"medgate/release-pseudonyms/v1"
PSEUDONYM_HEX = 32

Pseudonym = Callable[[str], str]


def release_key(signing_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The member's 32-byte key for release pseudonyms."""
    secret = signing_key.private_numbers().private_value.to_bytes(32, "big")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=RELEASE_KEY_INFO)
    return hkdf.derive(secret)


def keyed_pseudonym(key: bytes, recipient: str) -> Pseudonym:
    """``reference`` -> the first 32 hex digits of HMAC-SHA256(key, recipient "|" reference)."""
    prefix = f"{recipient}|".encode()

    def pseudonym(reference: str) -> str:
        mac = hmac.new(key, prefix + reference.encode(), hashlib.sha256)
        return mac.hexdigest()[:PSEUDONYM_HEX]

    return pseudonym
