"""Patient pseudonyms: the only patient reference that ever reaches the ledger."""

from __future__ import annotations

import base64
import hashlib
import hmac

from ledger.ids import PatientRef


def patient_ref(consortium_key: bytes, system: str, value: str) -> PatientRef:
    """``HMAC-SHA256(key, system + "|" + value)``, base64url (ARCHITECTURE.md section 3).

    Members share the key, so they can link a patient across organisations; a reader of the ledger
    alone cannot, and cannot test guesses without the key (unlike a plain hash of an MRN).
    """
    if len(consortium_key) < 32:
        raise ValueError("the consortium patient key must be at least 32 bytes")
    mac = hmac.new(consortium_key, f"{system}|{value}".encode(), hashlib.sha256).digest()
    return PatientRef(base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii"))


def load_patient_key(text: bytes) -> bytes:
    """The key file holds base64url text (written by `medgate init`)."""
    raw = text.strip()
    return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
