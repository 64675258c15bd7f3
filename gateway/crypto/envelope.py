"""Sealed envelopes: sign (JWS ES256), then encrypt (JWE JSON) for every recipient; open and check.

Layout. The JWE protected header is {"enc": "A256GCM", "cty", "iss": sender org, "skid": its kid};
each recipient entry's header carries "alg" (ECDH-ES+A256KW, or HPKE-9-KE for post-quantum), "kid"
(the recipient key's thumbprint) and "epk" or "ek". The plaintext is a compact JWS whose header is
{"alg": "ES256", "kid", "iss", "aud": [recipient orgs], "cty"}. Naming the recipients inside the
signature stops a recipient from re-encrypting the signed payload to a third party as if the sender
had addressed it there (surreptitious forwarding, a known weakness of plain sign-then-encrypt).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.crypto import jwe, jws, keys, sealing
from gateway.crypto import recipients as wrapping
from gateway.crypto.errors import (
    BadSender,
    EnvelopeError,
    MixedRecipients,
    NotARecipient,
    TamperedEnvelope,
    UnsupportedAlgorithm,
)

FHIR_JSON = "application/fhir+json"
MAX_PAYLOAD_BYTES = 20 * 1024 * 1024
MAX_ENVELOPE_BYTES = MAX_PAYLOAD_BYTES * 16 // 9 + 1024 * 1024
"""Base64 twice (JWS, then JWE) grows a payload by 16/9; 1 MiB covers headers and recipients."""
ALLOWED_ALGS = frozenset({wrapping.ECDH_ES_A256KW, wrapping.HPKE_9_KE})

SenderKeys = Callable[[str, str], ec.EllipticCurvePublicKey | None]
"""(org, kid) -> that member's current signing key, or None if the org has no such key."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """A member to seal for: its org id and public encryption JWK (from the member registry)."""

    org: str
    public_jwk: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Opened:
    """An opened, verified envelope: the payload and who signed it."""

    payload: bytes
    sender_org: str
    sender_kid: str
    envelope: bytes = field(repr=False)

    @property
    def digest(self) -> str:
        """envelope_digest of the opened envelope (hashed when asked: a query's answer never is)."""
        return envelope_digest(self.envelope)


def envelope_digest(envelope: bytes) -> str:
    """Lowercase hex SHA-256 of the envelope's exact bytes (recorded in `access.record`)."""
    return hashlib.sha256(envelope).hexdigest()


def seal(
    payload: bytes,
    sender_org: str,
    sender_kid: str,
    signing_key: ec.EllipticCurvePrivateKey,
    recipients: Sequence[Recipient],
    cty: str = FHIR_JSON,
) -> bytes:
    """Sign `payload` as `sender_org`/`sender_kid`, then encrypt it for every recipient.
    Requires: 1..64 recipients, all post-quantum or all classical (else MixedRecipients), a payload
    of at most MAX_PAYLOAD_BYTES, and `sender_kid` naming `signing_key` (else BadSender)."""
    if not 0 < len(recipients) <= 64:
        raise EnvelopeError("an envelope needs 1 to 64 recipients")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise EnvelopeError(f"payload over {MAX_PAYLOAD_BYTES} bytes")
    if len({keys.is_pq(dict(r.public_jwk)) for r in recipients}) > 1:
        raise MixedRecipients("post-quantum and classical recipients in one envelope")
    if _signing_kid(signing_key) != sender_kid:
        raise BadSender(sender_org, sender_kid, "kid does not name the signing key")
    audience = sorted({r.org for r in recipients})
    header = {"kid": sender_kid, "iss": sender_org, "aud": audience, "cty": cty}
    protected = {"cty": cty, "iss": sender_org, "skid": sender_kid}
    to = [dict(r.public_jwk) for r in recipients]
    return sealing.sign_then_encrypt(payload, header, signing_key, protected, to)


def open_envelope(
    envelope: bytes,
    recipient_org: str,
    private_jwk: Mapping[str, str],
    sender_keys: SenderKeys,
) -> Opened:
    """Decrypt `envelope` with `private_jwk` and verify the sender's signature.
    Raises NotARecipient (no entry for this key or org), TamperedEnvelope (anything changed),
    BadSender (unknown key, or not the sender the envelope names), MixedRecipients,
    UnsupportedAlgorithm (alg/enc outside ECDH-ES+A256KW, HPKE-9-KE, A256GCM, ES256)."""
    return open_envelope_with(envelope, recipient_org, [private_jwk], sender_keys)


def open_envelope_with(
    envelope: bytes,
    recipient_org: str,
    private_jwks: Sequence[Mapping[str, str]],
    sender_keys: SenderKeys,
) -> Opened:
    """``open_envelope`` with whichever of ``private_jwks`` the envelope names by kid (a member's
    current key and the ones it kept after rotations: gateway.crypto.keyring). Requires at least
    one key. Raises as ``open_envelope``; NotARecipient when it names none of them."""
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise TamperedEnvelope(f"envelope over {MAX_ENVELOPE_BYTES} bytes")
    parsed = jwe.parse(envelope)
    _check_algorithms(parsed)
    entry, private_jwk = _my_entry_of(parsed, recipient_org, private_jwks)
    key = _private_key(private_jwk)
    cek = wrapping.unwrap(entry.header, entry.encrypted_key, key, jwe.A256GCM)
    inner = jws.parse_compact(jwe.decrypt(parsed, cek))
    sender_org, sender_kid = _check_sender(parsed.protected, inner.header, recipient_org)
    public = sender_keys(sender_org, sender_kid)
    if public is None:
        raise BadSender(sender_org, sender_kid, "no such signing key for this member")
    jws.verify(inner, public)
    return Opened(inner.payload, sender_org, sender_kid, envelope)


def _check_algorithms(parsed: jwe.ParsedJwe) -> None:
    if parsed.protected.get("enc") != jwe.A256GCM:
        raise UnsupportedAlgorithm("enc", parsed.protected.get("enc"))
    for name in ("zip", "crit"):  # no compression (a length oracle), no extensions we'd ignore
        if any(name in entry.header for entry in parsed.entries):
            raise UnsupportedAlgorithm("header", name)
    algs = {entry.header.get("alg") for entry in parsed.entries}
    for alg in algs:
        if alg not in ALLOWED_ALGS:
            raise UnsupportedAlgorithm("alg", alg)
    if len(algs) > 1:
        raise MixedRecipients("post-quantum and classical recipients in one envelope")


@functools.lru_cache(maxsize=8)
def _signing_kid(key: ec.EllipticCurvePrivateKey) -> str:
    # A gateway seals everything with its one signing key: derive its kid (DER, SHA-256) once.
    return keys.signing_kid(key.public_key())


def _my_entry_of(
    parsed: jwe.ParsedJwe, org: str, private_jwks: Sequence[Mapping[str, str]]
) -> tuple[jwe.Entry, Mapping[str, str]]:
    for private_jwk in private_jwks:
        kid = wrapping.public_key_of(private_jwk).kid
        for entry in parsed.entries:
            # Thumbprints are public: constant time only to keep the habit uniform for key material.
            if hmac.compare_digest(str(entry.header.get("kid", "")), kid):
                return entry, private_jwk
    raise NotARecipient(org)


def _private_key(private_jwk: Mapping[str, str]) -> wrapping.PrivateKey:
    return _private_key_of(tuple(sorted(private_jwk.items())))


@functools.lru_cache(maxsize=8)
def _private_key_of(items: tuple[tuple[str, str], ...]) -> wrapping.PrivateKey:
    # A gateway opens every envelope with the same one or two keys: derive each key object once
    # (it was ~15% of an open) instead of from its JWK on every call.
    jwk = dict(items)
    return keys.xwing_private_key(jwk) if keys.is_pq(jwk) else keys.ec_private_key(jwk)


def _check_sender(
    protected: Mapping[str, Any], inner: Mapping[str, Any], recipient_org: str
) -> tuple[str, str]:
    org, kid = protected.get("iss"), protected.get("skid")
    if not isinstance(org, str) or not isinstance(kid, str):
        raise BadSender(str(org), str(kid), "envelope does not name its sender")
    if inner.get("iss") != org or inner.get("kid") != kid:
        raise BadSender(org, kid, "inner signature names another sender")
    audience = inner.get("aud")
    if not isinstance(audience, list) or recipient_org not in audience:
        raise NotARecipient(recipient_org)
    return org, kid
