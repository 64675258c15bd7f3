"""Whom a peer call trusts: the called member's own CA as registered on the ledger, nothing else.

A gateway calling member X verifies X's HTTPS server certificate against ``ca_chain[0]`` of X's
member record (its organisation CA) only: no public CA, and no other member's CA, so one member
cannot impersonate another's endpoint with a certificate its own CA issued.
"""

from __future__ import annotations

import base64
import binascii
import ssl
import threading

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.peers.errors import PeerTlsError

MAX_CONTEXTS = 256


def _der(ca_b64url: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(ca_b64url + "=" * (-len(ca_b64url) % 4))
    except (binascii.Error, ValueError) as exc:
        raise PeerTlsError("the member's registered CA is not base64url DER") from exc


def member_context(ca_b64url: str) -> ssl.SSLContext:
    """A client context trusting exactly the CA ``ca_b64url`` (DER, unpadded base64url, as member
    records hold it), checking the host name, TLS 1.2 or later. Raises PeerTlsError."""
    try:
        pem = x509.load_der_x509_certificate(_der(ca_b64url)).public_bytes(Encoding.PEM)
    except ValueError as exc:
        raise PeerTlsError("the member's registered CA is not a certificate") from exc
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED on
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=pem.decode("ascii"))
    return context


class MemberContexts:
    """``member_context`` per registered CA. Keyed by the CA's bytes: a rotated CA is a new key,
    so an entry is never stale, on any replica; bounded (cleared when full)."""

    def __init__(self, limit: int = MAX_CONTEXTS) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._contexts: dict[str, ssl.SSLContext] = {}

    def get(self, ca_b64url: str) -> ssl.SSLContext:
        with self._lock:
            found = self._contexts.get(ca_b64url)
        if found is not None:
            return found
        context = member_context(ca_b64url)
        with self._lock:
            if len(self._contexts) >= self._limit:
                self._contexts.clear()
            self._contexts[ca_b64url] = context
        return context
