"""Key material for JWTs: P-256 loading, the kid convention, and client JWKS sets."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from gateway.errors import ConfigError
from ledger.ids import Kid


def kid_of(public_key: ec.EllipticCurvePublicKey) -> Kid:
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


def load_jwks(path: Path) -> dict[Kid, ec.EllipticCurvePublicKey]:
    """Public P-256 keys of a JWKS file by kid. Keys without kid get the thumbprint kid convention.

    Private members in the file are refused: a client's JWKS registered here must be public only.
    """
    try:
        document = orjson.loads(path.read_bytes())
        entries = document["keys"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(str(path), "not a JWKS document") from exc
    keys: dict[Kid, ec.EllipticCurvePublicKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "EC" or entry.get("crv") != "P-256":
            continue  # only ES256 keys can ever verify here
        if "d" in entry:
            raise ConfigError(str(path), "the JWKS holds a private key")
        public = ECKey.import_key(entry).public_key
        assert isinstance(public, ec.EllipticCurvePublicKey)  # noqa: S101 - kty EC checked
        keys[Kid(entry.get("kid") or kid_of(public))] = public
    return keys


def public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """A public JWK dict (with kid by our convention): what a client publishes in its JWKS."""
    jwk = ECKey.import_key(
        public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).as_dict(private=False)
    return {**{k: str(v) for k, v in jwk.items()}, "kid": kid_of(public_key)}
