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


LEDGER_ID_PREFIXES = {"Consent": "c-"}
LEDGER_CONSENT_ID = r"^c-[0-9a-f]{40}$"
"""The only shape a consent reference may take on the wire and on the ledger (``ledger_id``)."""
"""The kinds of custodian resources the ledger names, and the prefix their ledger ids carry."""


def ledger_id(consortium_key: bytes, custodian: str, kind: str, local_id: str) -> str:
    """The opaque id the ledger knows the custodian's ``kind/local_id`` by: ``"c-"`` + the first
    40 hex digits of ``HMAC-SHA256(key, "medgate-ledger-id|" + custodian + "|" + kind + "|" +
    local_id)``.

    Resource ids are chosen by the EHR and often embed an MRN or a name; the ledger is immutable
    and replicated to every member, so it never carries one. The custodian maps a ledger id back
    by recomputing it over its own ids, or through its evidence archive (the ``consent_digest``
    the entry pins names the archived document, whose ``id`` is the local one). Requires ``kind``
    in LEDGER_ID_PREFIXES.
    """
    if len(consortium_key) < 32:
        raise ValueError("the consortium patient key must be at least 32 bytes")
    message = f"medgate-ledger-id|{custodian}|{kind}|{local_id}".encode()
    mac = hmac.new(consortium_key, message, hashlib.sha256).hexdigest()
    return LEDGER_ID_PREFIXES[kind] + mac[:40]
