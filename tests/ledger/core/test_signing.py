"""Signing helpers: kids, key encoding, ES256 sign/verify pinned to P-256 and raw r||s."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ledger.errors import KeyFormatError
from ledger.signing import (
    b64url,
    b64url_decode,
    generate_signing_key,
    kid_of,
    kid_of_b64,
    load_public_key_b64,
    load_verifying_key,
    public_key_b64,
    sign,
    supported_alg,
    verify,
)


def test_kid_is_b64url_sha256_of_der_spki() -> None:
    key = generate_signing_key().public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert kid_of(key) == expected
    assert kid_of_b64(public_key_b64(key)) == expected
    assert len(expected) == 43


def test_public_key_round_trips() -> None:
    key = generate_signing_key().public_key()
    loaded = load_public_key_b64(public_key_b64(key))
    assert kid_of(loaded) == kid_of(key)


def test_sign_then_verify_and_raw_length() -> None:
    private = generate_signing_key()
    sig = sign(private, b"message")
    assert len(b64url_decode(sig)) == 64
    assert verify(private.public_key(), b"message", sig)
    assert not verify(private.public_key(), b"messagf", sig)
    assert not verify(generate_signing_key().public_key(), b"message", sig)


def test_der_signature_is_refused() -> None:
    private = generate_signing_key()
    der = private.sign(b"m", ec.ECDSA(hashes.SHA256()))
    assert not verify(private.public_key(), b"m", b64url(der))


@pytest.mark.parametrize("sig", ["", "!!!!", "AA==", "A" * 85, b64url(bytes(64))])
def test_garbage_signatures_are_false_not_errors(sig: str) -> None:
    assert not verify(generate_signing_key().public_key(), b"m", sig)


def test_other_curves_and_algorithms_are_refused() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    for key in (p384, ed):
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        with pytest.raises(KeyFormatError):
            load_public_key_b64(b64url(der))
    with pytest.raises(KeyFormatError):
        load_public_key_b64(b64url(b"not der"))


@pytest.mark.parametrize("text", ["AA==", "A", "a+b/", "QR"])
def test_b64url_decode_is_strict(text: str) -> None:
    # "QR" decodes to one byte with non-zero trailing bits: a second spelling of "QQ".
    with pytest.raises(KeyFormatError):
        b64url_decode(text)


def test_registry_has_only_es256() -> None:
    assert supported_alg("ES256")
    assert not supported_alg("SM2")
    key = generate_signing_key()
    verifier = load_verifying_key("ES256", public_key_b64(key.public_key()))
    assert verifier.alg == "ES256"
    assert verifier.verify(b"x", sign(key, b"x"))
    with pytest.raises(KeyFormatError):
        load_verifying_key("SM2", public_key_b64(key.public_key()))
