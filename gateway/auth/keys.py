"""Key material for JWTs: P-256 loading, the kid convention, and client JWKS sets."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from gateway.errors import ConfigError
from ledger.ids import Kid


def kid_of(public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> Kid:
    """base64url(SHA-256(DER SubjectPublicKeyInfo)) without padding: the ledger's kid convention."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Kid(base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode())


def load_p256_private(path: Path) -> ec.EllipticCurvePrivateKey:
    """Load a PEM PKCS8 P-256 private key. Raises ConfigError naming the file."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(str(path), "not a readable PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigError(str(path), "must be a P-256 (secp256r1) key")
    return key


def as_jwk(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> ECKey:
    """The joserfc view of a cryptography key (joserfc signs and verifies with it)."""
    return ECKey(key, key)


ClientKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
"""A client assertion key: P-256 (ES256), P-384 (ES384) or RSA >= 2048 bits (RS384)."""
CLIENT_CURVES = ("P-256", "P-384")
MIN_RSA_BITS = 2048


def load_jwks(path: Path) -> dict[Kid, ClientKey]:
    """Client keys of a JWKS file by kid (see ``parse_jwks``). Raises ConfigError naming the file."""
    try:
        return parse_jwks(path.read_bytes())
    except OSError as exc:
        raise ConfigError(str(path), "not readable") from exc
    except ValueError as exc:
        raise ConfigError(str(path), str(exc)) from exc


def parse_jwks(raw: bytes) -> dict[Kid, ClientKey]:
    """Public client keys of a JWKS document by kid; keys without kid get the SPKI kid convention.
    Keys of other types (and RSA under 2048 bits) are skipped: they could never verify here.
    Raises ValueError for a document that is not a JWKS or holds a private key (a client's JWKS
    registered here must be public only)."""
    try:
        entries = orjson.loads(raw)["keys"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError("not a JWKS document") from exc
    if not isinstance(entries, list):
        raise ValueError("not a JWKS document")
    keys: dict[Kid, ClientKey] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        if {"d", "p", "q"} & entry.keys():
            raise ValueError("the JWKS holds a private key")
        public = _client_key(entry)
        if public is not None:
            kid = entry.get("kid")
            keys[Kid(kid if isinstance(kid, str) and kid else kid_of(public))] = public
    return keys


def _client_key(entry: dict[str, object]) -> ClientKey | None:
    found: object
    try:
        if entry.get("kty") == "EC" and entry.get("crv") in CLIENT_CURVES:
            found = ECKey.import_key(entry).public_key  # type: ignore[arg-type]
        elif entry.get("kty") == "RSA":
            if _rsa_bits(entry.get("n")) < MIN_RSA_BITS:
                return None  # too weak to be accepted: never imported
            found = RSAKey.import_key(entry).public_key  # type: ignore[arg-type]
        else:
            return None
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError("a JWKS key is malformed") from exc
    if isinstance(found, rsa.RSAPublicKey) and found.key_size >= MIN_RSA_BITS:
        return found
    return found if isinstance(found, ec.EllipticCurvePublicKey) else None


def public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """A public JWK dict (with kid by our convention): what a client publishes in its JWKS."""
    jwk = ECKey.import_key(
        public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).as_dict(private=False)
    return {**{k: str(v) for k, v in jwk.items()}, "kid": kid_of(public_key)}


def _rsa_bits(modulus: object) -> int:
    if not isinstance(modulus, str):
        raise ValueError("a JWKS key is malformed")
    try:
        raw = base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))
    except ValueError as exc:
        raise ValueError("a JWKS key is malformed") from exc
    return int.from_bytes(raw, "big").bit_length()
