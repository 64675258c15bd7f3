"""Signing keys, key ids and signatures of ledger entries, with a small registry of algorithms.

Only ES256 (ECDSA P-256 SHA-256, signatures raw r||s as in JOSE) is registered. The registry maps
an ``alg`` name to a loader of verifying keys so that a suite such as SM2/SM3 can be added later
without a format change; anything unregistered is refused (UNSUPPORTED_ALG), never guessed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ledger.errors import KeyFormatError
from ledger.ids import Kid

ES256 = "ES256"
_COORD = 32
"""Bytes per P-256 scalar: a raw ES256 signature is 64 bytes."""
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of ``b64url``: no padding, no stray characters, canonical trailing bits.

    Strictness matters because these strings are hashed: two spellings of the same bytes must not
    both be accepted. Raises KeyFormatError.
    """
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise KeyFormatError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError("not unpadded base64url") from exc
    if b64url(data) != text:
        raise KeyFormatError("non-canonical base64url")
    return data


def generate_signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _spki_der(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def kid_of(public_key: ec.EllipticCurvePublicKey) -> Kid:
    """base64url(SHA-256(DER SubjectPublicKeyInfo)): the key's thumbprint, its id on the ledger."""
    return Kid(b64url(hashlib.sha256(_spki_der(public_key)).digest()))


def kid_of_b64(public_key_b64: str) -> Kid:
    """The kid of a key given as base64url DER SPKI (of those bytes). Raises KeyFormatError."""
    return Kid(b64url(hashlib.sha256(b64url_decode(public_key_b64)).digest()))


def public_key_b64(public_key: ec.EllipticCurvePublicKey) -> str:
    """The key as it is written on the ledger: base64url(DER SubjectPublicKeyInfo)."""
    return b64url(_spki_der(public_key))


def load_public_key_b64(text: str) -> ec.EllipticCurvePublicKey:
    """Load a P-256 public key written by ``public_key_b64``. Raises KeyFormatError otherwise."""
    der = b64url_decode(text)
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError("not a DER SubjectPublicKeyInfo") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFormatError("not a P-256 public key")
    # Re-encoding must give the same bytes: the kid (a hash of these bytes) names exactly one key.
    if _spki_der(key) != der:
        raise KeyFormatError("non-canonical SubjectPublicKeyInfo")
    return key


def sign(private_key: ec.EllipticCurvePrivateKey, message: bytes) -> str:
    """ES256 over ``message``: raw r||s (64 bytes) as base64url, as JOSE encodes it."""
    r, s = decode_dss_signature(private_key.sign(message, ec.ECDSA(hashes.SHA256())))
    return b64url(r.to_bytes(_COORD, "big") + s.to_bytes(_COORD, "big"))


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
"""The one signature algorithm ES256 names (immutable, shared by every thread)."""

SignatureCheck = Callable[[], bool]
"""A signature check whose inputs are decoded already: calling it does only the curve arithmetic,
which ``cryptography`` runs without the GIL (so a thread pool runs these on every core)."""


def refused() -> bool:
    """The check that fails: for a signature that cannot be valid whatever the arithmetic says."""
    return False


def _der_signature(sig_b64: str) -> bytes | None:
    """The DER form of a raw r||s ES256 signature, or None when it is not exactly that."""
    try:
        raw = b64url_decode(sig_b64)
    except KeyFormatError:
        return None
    if len(raw) != 2 * _COORD:
        return None
    return encode_dss_signature(
        int.from_bytes(raw[:_COORD], "big"), int.from_bytes(raw[_COORD:], "big")
    )


class _Es256Check(msgspec.Struct, frozen=True):
    public_key: ec.EllipticCurvePublicKey
    der: bytes
    message: bytes

    def __call__(self) -> bool:
        try:
            self.public_key.verify(self.der, self.message, _ECDSA_SHA256)
        except InvalidSignature:
            return False
        return True


def es256_check(
    public_key: ec.EllipticCurvePublicKey, message: bytes, sig_b64: str
) -> SignatureCheck:
    """``verify`` split in two: decode now, check when called.

    Algorithm pinned: the key must be P-256 and the signature exactly 64 raw bytes (never DER, never
    another curve or hash chosen by the input); anything else is a check that fails.
    """
    if not isinstance(public_key.curve, ec.SECP256R1):
        return refused
    der = _der_signature(sig_b64)
    return refused if der is None else _Es256Check(public_key, der, message)


def verify(public_key: ec.EllipticCurvePublicKey, message: bytes, sig_b64: str) -> bool:
    """True when ``sig_b64`` is a valid ES256 signature of ``message`` under ``public_key``."""
    return es256_check(public_key, message, sig_b64)()


class VerifyingKey(Protocol):
    """A public key loaded for one algorithm, ready to check signatures."""

    @property
    def alg(self) -> str: ...

    def verify(self, message: bytes, sig_b64: str) -> bool: ...

    def check(self, message: bytes, sig_b64: str) -> SignatureCheck:
        """The same answer as ``verify``, decoded now and computed when called."""
        ...


@dataclass(frozen=True, slots=True)
class Es256Key:
    public_key: ec.EllipticCurvePublicKey
    alg: str = ES256

    def verify(self, message: bytes, sig_b64: str) -> bool:
        return verify(self.public_key, message, sig_b64)

    def check(self, message: bytes, sig_b64: str) -> SignatureCheck:
        return es256_check(self.public_key, message, sig_b64)


def as_verifying_key(key: VerifyingKey | ec.EllipticCurvePublicKey) -> VerifyingKey:
    """A bare EC public key is taken as ES256 (and ``verify`` refuses it unless it is P-256)."""
    return Es256Key(key) if isinstance(key, ec.EllipticCurvePublicKey) else key


def _load_es256(public_key_text: str) -> VerifyingKey:
    return Es256Key(load_public_key_b64(public_key_text))


_LOADERS: dict[str, Callable[[str], VerifyingKey]] = {ES256: _load_es256}


def supported_alg(alg: str) -> bool:
    return alg in _LOADERS


def load_verifying_key(alg: str, public_key_text: str) -> VerifyingKey:
    """Load a ledger public key for ``alg``. Raises KeyFormatError (also for an unknown alg)."""
    loader = _LOADERS.get(alg)
    if loader is None:
        raise KeyFormatError(f"unsupported algorithm {alg!r}")
    return loader(public_key_text)
