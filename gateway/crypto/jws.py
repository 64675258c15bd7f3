"""The inner signature of an envelope: JWS Compact Serialization (RFC 7515), ES256 only.

Compact rather than JSON serialization: one signer, and the bytes that are signed are the bytes that
travel, so nothing is re-serialised between signing and verifying.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from gateway.crypto import b64
from gateway.crypto.errors import TamperedEnvelope, UnsupportedAlgorithm

ES256 = "ES256"
_MAX_HEADER = 4096


@dataclass(frozen=True, slots=True)
class ParsedJws:
    """A compact JWS split but not yet verified: `verify` it before trusting `payload`."""

    header: Mapping[str, Any]
    signing_input: bytes
    payload: bytes
    signature: bytes


def sign_compact(
    payload: bytes, header: Mapping[str, Any], key: ec.EllipticCurvePrivateKey
) -> bytes:
    """ES256 compact JWS of `payload`; `header` gets "alg": "ES256". Requires a P-256 key.
    (The envelope's hot path, `sealing`, builds the same token in pieces.)"""
    signing_input = encode_header(header) + b"." + bytes(b64.encode(payload))
    return signing_input + b"." + sign_digest(hashlib.sha256(signing_input).digest(), key)


def encode_header(header: Mapping[str, Any]) -> bytes:
    """base64url of the JWS protected header with "alg": "ES256" set."""
    text = json.dumps({**header, "alg": ES256}, sort_keys=True, separators=(",", ":"))
    return bytes(b64.encode(text.encode()))


def sign_digest(digest: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """base64url ES256 signature (raw r || s, RFC 7518 section 3.4) of a SHA-256 `digest` of the
    signing input. Requires a P-256 key."""
    if not isinstance(key.curve, ec.SECP256R1):
        raise UnsupportedAlgorithm("signing curve", key.curve.name)
    r, s = decode_dss_signature(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    return bytes(b64.encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")))


def parse_compact(token: bytes) -> ParsedJws:
    """Split a compact JWS and decode its parts. Raises TamperedEnvelope if malformed and
    UnsupportedAlgorithm unless alg is ES256 (no "none", no HMAC, no algorithm negotiation)."""
    first = token.find(b".")
    last = token.rfind(b".")
    if first <= 0 or first == last or first > _MAX_HEADER:
        raise TamperedEnvelope("inner JWS is not compact serialization")
    try:
        header = json.loads(b64.decode(token[:first]))
        payload = b64.decode(token[first + 1 : last])
        signature = b64.decode(token[last + 1 :])
    except ValueError as exc:
        raise TamperedEnvelope("inner JWS encoding") from exc
    if not isinstance(header, dict):
        raise TamperedEnvelope("inner JWS header is not an object")
    if header.get("alg") != ES256 or "crit" in header:
        raise UnsupportedAlgorithm("JWS alg", header.get("alg"))
    return ParsedJws(header, token[:last], payload, signature)


def verify(parsed: ParsedJws, public_key: ec.EllipticCurvePublicKey) -> None:
    """Check the ES256 signature of `parsed` under `public_key`; raises TamperedEnvelope if bad."""
    if len(parsed.signature) != 64 or not isinstance(public_key.curve, ec.SECP256R1):
        raise TamperedEnvelope("inner JWS signature")
    r = int.from_bytes(parsed.signature[:32], "big")
    s = int.from_bytes(parsed.signature[32:], "big")
    try:
        public_key.verify(
            encode_dss_signature(r, s), parsed.signing_input, ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature as exc:
        raise TamperedEnvelope("inner JWS signature") from exc
