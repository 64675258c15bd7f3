"""Interop: joserfc opens what the lean path seals and the reverse; the HPKE drafts' examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwe as jose_jwe
from joserfc import jws as jose_jws
from joserfc.jwk import ECKey, OKPKey

from gateway.crypto import jwe, keys, recipients
from gateway.crypto.envelope import open_envelope, seal
from gateway.crypto.errors import TamperedEnvelope, UnsupportedAlgorithm
from tests.gateway.crypto.conftest import Registry, make_member

# Over joserfc's 64 KiB default, and over sealing's threshold for hashing on a worker thread.
PAYLOAD = b'{"resourceType":"Bundle","type":"searchset","total":0}' * 12000


# Envelopes name their sender and audience in private header members ("iss", "skid", "aud"):
# joserfc's strict header check must be told these are expected.
JWS_REGISTRY = jose_jws.JWSRegistry(algorithms=["ES256"], strict_check_header=False)
JWS_REGISTRY.max_payload_length = 40 * 1024 * 1024  # joserfc's default is 64 KiB


def _ec_key(jwk: dict[str, str]) -> ECKey:
    value: dict[str, str | list[str]] = dict(jwk)
    return ECKey.import_key(value)


def _registry() -> jose_jwe.JWERegistry:
    registry = jose_jwe.JWERegistry(verify_all_recipients=False, strict_check_header=False)
    registry.max_ciphertext_length = 40 * 1024 * 1024  # joserfc refuses more than 64 KiB by default
    return registry


def test_joserfc_opens_lean_envelope() -> None:
    sender, a, b = make_member("s", False), make_member("a", False), make_member("b", False)
    envelope = seal(PAYLOAD, sender.org, sender.kid, sender.signing_key, [a.recipient, b.recipient])
    for member in (a, b):
        key = _ec_key(member.enc_key)
        opened = jose_jwe.decrypt_json(json.loads(envelope), key, registry=_registry())
        assert opened.protected["iss"] == sender.org
        assert opened.plaintext is not None
        verify_key = ECKey.import_key(sender.signing_key.public_key())
        inner = jose_jws.deserialize_compact(opened.plaintext, verify_key, registry=JWS_REGISTRY)
        assert inner.payload == PAYLOAD
        assert inner.protected["kid"] == sender.kid


def test_lean_path_opens_joserfc_envelope() -> None:
    sender, a, b = make_member("s", False), make_member("a", False), make_member("b", False)
    token = jose_jws.serialize_compact(
        {"alg": "ES256", "kid": sender.kid, "iss": sender.org, "aud": [a.org, b.org]},
        PAYLOAD,
        ECKey.import_key(sender.signing_key),
        registry=JWS_REGISTRY,
    )
    protected = {"enc": "A256GCM", "cty": "application/fhir+json"}
    obj = jose_jwe.GeneralJSONEncryption({**protected, "iss": sender.org, "skid": sender.kid})
    obj.plaintext = token.encode()
    for member in (a, b):
        public = keys.public_jwk(member.enc_key)
        obj.add_recipient({"alg": "ECDH-ES+A256KW", "kid": public["kid"]}, _ec_key(public))
    envelope = json.dumps(jose_jwe.encrypt_json(obj, None, registry=_registry())).encode()
    for member in (a, b):
        opened = open_envelope(envelope, member.org, member.enc_key, Registry(sender))
        assert (opened.payload, opened.sender_org) == (PAYLOAD, sender.org)


def _vector(vectors_dir: Path, folder: str, alg: str) -> tuple[bytes, dict[str, Any]]:
    envelope = (vectors_dir / folder / "jwe" / f"{alg}-flattened.json").read_bytes()
    jwk = json.loads((vectors_dir / folder / "jwks" / f"{alg}.json").read_text())
    return envelope, jwk


def _decrypt(envelope: bytes, key: recipients.PrivateKey) -> bytes:
    parsed = jwe.parse(envelope)
    (entry,) = parsed.entries
    enc = str(parsed.protected["enc"])
    cek = recipients.unwrap(entry.header, entry.encrypted_key, key, enc)
    return jwe.decrypt(parsed, cek, encs=("A128GCM", "A256GCM"))


def test_draft_pq_example_hpke9_ke_decrypts(vectors_dir: Path) -> None:
    envelope, jwk = _vector(vectors_dir, "jose-hpke-pq", "HPKE-9-KE")
    plaintext = _decrypt(envelope, keys.xwing_private_key(jwk))
    assert plaintext.startswith(b"You can trust us to stick with you")


@pytest.mark.parametrize(
    "alg", ["HPKE-0-KE", "HPKE-1-KE", "HPKE-2-KE", "HPKE-3-KE", "HPKE-4-KE", "HPKE-7-KE"]
)
def test_draft_classical_ke_examples_decrypt(vectors_dir: Path, alg: str) -> None:
    envelope, jwk = _vector(vectors_dir, "jose-hpke", alg)
    imported = ECKey.import_key(jwk) if jwk["kty"] == "EC" else OKPKey.import_key(jwk)
    plaintext = _decrypt(envelope, imported.private_key)  # type: ignore[arg-type]
    assert plaintext.startswith(b"You can trust us to stick with you")


def test_changed_vector_is_refused(vectors_dir: Path) -> None:
    envelope, jwk = _vector(vectors_dir, "jose-hpke-pq", "HPKE-9-KE")
    doc = json.loads(envelope)
    doc["aad"] = doc["aad"][:-2] + ("AA" if doc["aad"][-2:] != "AA" else "BA")
    with pytest.raises(TamperedEnvelope):
        _decrypt(json.dumps(doc).encode(), keys.xwing_private_key(jwk))


def test_envelope_api_refuses_classical_hpke_alg(vectors_dir: Path) -> None:
    # The envelope allow-list is ECDH-ES+A256KW and HPKE-9-KE only, even though unwrap knows more.
    envelope, jwk = _vector(vectors_dir, "jose-hpke", "HPKE-7-KE")
    with pytest.raises(UnsupportedAlgorithm):
        open_envelope(envelope, "x", jwk, Registry())
