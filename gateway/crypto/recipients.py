"""Per-recipient key management: wrap and unwrap the content key (CEK) for one recipient.

ECDH-ES+A256KW (RFC 7518 section 4.6: ephemeral P-256 ECDH, Concat KDF, AES key wrap) and HPKE key
encryption (draft-ietf-jose-hpke-encrypt "-KE" algorithms, HPKE from `cryptography`). Sealing uses
ECDH-ES+A256KW or HPKE-9-KE only; unwrapping knows every -KE suite `cryptography` has so that the
drafts' examples can be checked, and callers pin which algorithms they accept.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives import hpke as h
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.crypto import b64, keys
from gateway.crypto.errors import KeyFormatError, TamperedEnvelope, UnsupportedAlgorithm

PrivateKey = ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey | h.MLKEM768X25519PrivateKey

ECDH_ES_A256KW = keys.CLASSICAL_ALG
HPKE_9_KE = keys.PQ_ALG
HPKE_KE_SUITES: Mapping[str, tuple[h.KEM, h.KDF, h.AEAD]] = {
    "HPKE-0-KE": (h.KEM.P256, h.KDF.HKDF_SHA256, h.AEAD.AES_128_GCM),
    "HPKE-1-KE": (h.KEM.P384, h.KDF.HKDF_SHA384, h.AEAD.AES_256_GCM),
    "HPKE-2-KE": (h.KEM.P521, h.KDF.HKDF_SHA512, h.AEAD.AES_256_GCM),
    "HPKE-3-KE": (h.KEM.X25519, h.KDF.HKDF_SHA256, h.AEAD.AES_128_GCM),
    "HPKE-4-KE": (h.KEM.X25519, h.KDF.HKDF_SHA256, h.AEAD.CHACHA20_POLY1305),
    "HPKE-7-KE": (h.KEM.P256, h.KDF.HKDF_SHA256, h.AEAD.AES_256_GCM),
    HPKE_9_KE: (h.KEM.MLKEM768_X25519, h.KDF.SHAKE256, h.AEAD.AES_256_GCM),
}
"""The -KE suites `cryptography` has (HPKE-5/6 need X448, HPKE-8 ML-KEM-768+P-256: absent)."""


@dataclass(frozen=True, slots=True)
class RecipientKey:
    """A recipient's public encryption key, checked and derived once from its JWK."""

    alg: str
    kid: str
    key: ec.EllipticCurvePublicKey | h.MLKEM768X25519PublicKey


def public_key_of(jwk: Mapping[str, str]) -> RecipientKey:
    """The checked public key, alg and kid (thumbprint) of a public or private encryption JWK.
    Raises KeyFormatError, UnsupportedAlgorithm."""
    return _public_key_of(tuple(sorted(jwk.items())))


@functools.lru_cache(maxsize=256)
def _public_key_of(items: tuple[tuple[str, str], ...]) -> RecipientKey:
    # Members' keys come from the registry and change only by rotation (another JWK, another
    # entry here): the thumbprint and the point check (~25 us) are done once per key, not per seal.
    public = keys.public_jwk(dict(items))
    alg = public["alg"]
    key = keys.xwing_public_key(public) if alg == HPKE_9_KE else keys.ec_public_key(public)
    return RecipientKey(alg, public["kid"], key)


def wrap(cek: bytes, recipient: keys.Jwk, enc: str) -> tuple[dict[str, Any], bytes]:
    """Encrypt `cek` to the recipient's public JWK. Returns (per-recipient header, encrypted_key).
    The header carries "alg", "kid" (the JWK's thumbprint) and "epk" or "ek"."""
    public = public_key_of(recipient)
    header: dict[str, Any] = {"alg": public.alg, "kid": public.kid}
    if isinstance(public.key, h.MLKEM768X25519PublicKey):
        sealed = _suite(HPKE_9_KE).encrypt(cek, public.key, _info(enc))
        split = h.KEM.MLKEM768_X25519.enc_length()
        header["ek"] = b64.encode_str(sealed[:split])
        return header, sealed[split:]
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    shared = ephemeral.exchange(ec.ECDH(), public.key)
    header["epk"] = _epk(ephemeral.public_key())
    return header, keywrap.aes_key_wrap(_concat_kdf(shared, ECDH_ES_A256KW, b"", b""), cek)


def unwrap(header: Mapping[str, Any], encrypted_key: bytes, key: PrivateKey, enc: str) -> bytes:
    """Recover the CEK from one recipient entry. `header` is the joint header (protected, shared and
    per-recipient members together). Raises UnsupportedAlgorithm for an unknown alg and
    TamperedEnvelope when the entry does not decrypt under `key`."""
    alg = header.get("alg")
    if alg == ECDH_ES_A256KW and isinstance(key, ec.EllipticCurvePrivateKey):
        return _unwrap_ecdh(header, encrypted_key, key)
    if isinstance(alg, str) and alg in HPKE_KE_SUITES:
        try:
            ek = b64.decode(_text(header, "ek"))
            return _suite(alg).decrypt(ek + encrypted_key, key, _info(enc))
        except (ValueError, TypeError, InvalidTag) as exc:
            raise TamperedEnvelope("recipient entry (ek or encrypted_key)") from exc
    raise UnsupportedAlgorithm("alg", alg)


def _unwrap_ecdh(
    header: Mapping[str, Any], encrypted_key: bytes, key: ec.EllipticCurvePrivateKey
) -> bytes:
    epk = header.get("epk")
    if not isinstance(epk, dict) or epk.get("kty") != "EC" or "d" in epk:
        raise TamperedEnvelope("recipient epk")
    try:
        # ec_public_key checks the point is on P-256: an invalid-curve point would leak key bits.
        peer = keys.ec_public_key({k: v for k, v in epk.items() if k in ("kty", "crv", "x", "y")})
        apu = b64.decode(header.get("apu", ""))
        apv = b64.decode(header.get("apv", ""))
        kek = _concat_kdf(key.exchange(ec.ECDH(), peer), ECDH_ES_A256KW, apu, apv)
        return keywrap.aes_key_unwrap(kek, encrypted_key)
    except (KeyFormatError, ValueError, TypeError, keywrap.InvalidUnwrap) as exc:
        raise TamperedEnvelope("recipient entry (epk or encrypted_key)") from exc


def _concat_kdf(shared: bytes, alg: str, apu: bytes, apv: bytes) -> bytes:
    # RFC 7518 section 4.6.2: OtherInfo = AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo,
    # each datum length-prefixed (32-bit big-endian); SuppPubInfo is the key length in bits.
    def datum(value: bytes) -> bytes:
        return struct.pack(">I", len(value)) + value

    other = datum(alg.encode()) + datum(apu) + datum(apv) + struct.pack(">I", 256)
    return ConcatKDFHash(hashes.SHA256(), 32, other).derive(shared)


def _epk(public: ec.EllipticCurvePublicKey) -> dict[str, str]:
    point = public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)  # 04 || x || y
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64.encode_str(point[1:33]),
        "y": b64.encode_str(point[33:65]),
    }


def _info(enc: str) -> bytes:
    # The draft's Recipient_structure, with empty recipient_extra_info: binds the wrapped CEK to the
    # content encryption algorithm, so an entry cannot be replayed under a weaker "enc".
    return b"JOSE-HPKE rcpt\xff" + enc.encode("ascii") + b"\xff"


def _suite(alg: str) -> h.Suite:
    return h.Suite(*HPKE_KE_SUITES[alg])


def _text(header: Mapping[str, Any], name: str) -> str:
    value = header.get(name)
    if not isinstance(value, str):
        raise ValueError(f"header {name!r} missing")
    return value
