"""Encryption keys: generation, public halves, thumbprints, the PQ seed expansion, files at 0600."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from gateway.crypto import keys
from gateway.crypto.errors import KeyFormatError, UnsupportedAlgorithm


def test_classical_key_is_p256_for_ecdh_es_a256kw() -> None:
    jwk = keys.generate_encryption_key(pq=False)
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "P-256", "ECDH-ES+A256KW")
    assert keys.ec_private_key(jwk).public_key() == keys.ec_public_key(keys.public_jwk(jwk))
    assert not keys.is_pq(jwk)


def test_pq_key_is_akp_hpke9_with_32_byte_seed() -> None:
    jwk = keys.generate_encryption_key(pq=True)
    assert (jwk["kty"], jwk["alg"]) == ("AKP", "HPKE-9-KE")
    assert len(keys.b64u_decode(jwk["priv"])) == 32
    assert len(keys.b64u_decode(jwk["pub"])) == 1216
    assert keys.is_pq(jwk)
    keys.xwing_private_key(jwk)  # the seed expands to the stated public key, or this raises


@pytest.mark.parametrize("pq", [False, True])
def test_public_jwk_drops_private_parts_and_keeps_kid(pq: bool) -> None:
    private = keys.generate_encryption_key(pq)
    public = keys.public_jwk(private)
    assert not {"d", "priv"} & set(public)
    assert public["kid"] == private["kid"] == keys.jwk_thumbprint(public)
    assert keys.public_jwk(public) == public


def test_ec_thumbprint_covers_only_required_members() -> None:
    jwk = keys.public_jwk(keys.generate_encryption_key(pq=False))
    assert keys.jwk_thumbprint(jwk) == keys.jwk_thumbprint({**jwk, "use": "sig", "alg": "x"})
    assert keys.jwk_thumbprint(jwk) != keys.jwk_thumbprint({**jwk, "x": jwk["y"], "y": jwk["x"]})


def test_vector_akp_key_kid_pub_and_seed(vectors_dir: Path) -> None:
    jwk = json.loads((vectors_dir / "jose-hpke-pq/jwks/HPKE-9-KE.json").read_text())
    assert keys.jwk_thumbprint(jwk) == jwk["kid"]
    assert keys.public_jwk(jwk)["kid"] == jwk["kid"]
    keys.xwing_private_key(jwk)  # SHAKE256 expansion of "priv" reproduces the vector's "pub"


def test_vector_ec_key_kid(vectors_dir: Path) -> None:
    jwk = json.loads((vectors_dir / "jose-hpke/jwks/HPKE-7-KE.json").read_text())
    assert keys.jwk_thumbprint(jwk) == jwk["kid"]


def test_seed_that_does_not_match_pub_is_refused() -> None:
    a, b = keys.generate_encryption_key(True), keys.generate_encryption_key(True)
    with pytest.raises(KeyFormatError):
        keys.xwing_private_key({**a, "priv": b["priv"]})


def test_ec_scalar_that_does_not_match_point_is_refused() -> None:
    a, b = keys.generate_encryption_key(False), keys.generate_encryption_key(False)
    with pytest.raises(KeyFormatError):
        keys.ec_private_key({**a, "d": b["d"]})


def test_point_off_curve_is_refused() -> None:
    jwk = keys.public_jwk(keys.generate_encryption_key(False))
    with pytest.raises(KeyFormatError):
        keys.ec_public_key({**jwk, "y": jwk["x"]})


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
        {"kty": "AKP", "alg": "ML-DSA-65", "pub": "AA"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "alg": "ECDH-ES+A128KW"},
    ],
)
def test_keys_outside_allow_list_are_refused(jwk: dict[str, str]) -> None:
    with pytest.raises(UnsupportedAlgorithm):
        keys.key_alg(jwk)


def test_private_key_file_is_0600_and_reads_back(tmp_path: Path) -> None:
    jwk = keys.generate_encryption_key(pq=True)
    path = tmp_path / "enc.jwk.json"
    keys.write_private_jwk(path, jwk)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.read_jwk(path) == jwk
    with pytest.raises(FileExistsError):
        keys.write_private_jwk(path, jwk)  # never overwrite a key silently


def test_read_refuses_non_jwk(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('["not", "a", "jwk"]')
    with pytest.raises(KeyFormatError):
        keys.read_jwk(path)
