"""The patient's access log over real gateways, every proof checked by an independent verifier:
RFC 9162 written here (not ledger.merkle) and checkpoint signatures checked with `cryptography`
directly against the members' keys in genesis.json."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.gateway.audit.harness import Consortium


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rfc9162_root(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.3.2, written from the RFC text."""
    assert 0 <= index < size
    fn, sn = index, size - 1
    r = hashlib.sha256(b"\x00" + leaf).digest()
    for p in proof:
        assert sn > 0
        assert len(p) == 32
        if fn % 2 == 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0
    return r


def genesis_keys(c: Consortium) -> tuple[dict[tuple[str, str], ec.EllipticCurvePublicKey], int]:
    leaf = json.loads((c.root / "consortium" / "genesis.json").read_bytes())
    body = leaf["tx"]["body"]
    keys = {}
    for member in body["members"]:
        for key in member["signing_keys"]:
            loaded = serialization.load_der_public_key(b64url(key["pub"]))
            assert isinstance(loaded, ec.EllipticCurvePublicKey)
            keys[(member["org"], key["kid"])] = loaded
    assert body["quorum"] == {"rule": "MAJORITY"}
    return keys, len(body["members"]) // 2 + 1


def verify_checkpoint(c: Consortium, cosigned: dict[str, Any]) -> None:
    keys, quorum = genesis_keys(c)
    cp = cosigned["cp"]
    assert cp["consortium"] == c.settings["hospital-a"].consortium
    message = json.dumps(cp, sort_keys=True, separators=(",", ":")).encode()
    signers = set()
    for sig in cosigned["signatures"]:
        raw = b64url(sig["sig"])
        der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
        keys[(sig["org"], sig["kid"])].verify(der, message, ec.ECDSA(hashes.SHA256()))
        signers.add(sig["org"])
    assert len(signers) >= quorum


def audit(c: Consortium, org: str = "hospital-a", **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {c.patient_token()}"}
    return httpx.get(f"{c.urls[org]}/patient/audit", params=params, headers=headers, timeout=30)


def test_every_access_is_listed_with_a_proof_that_verifies_independently(
    consortium: Consortium,
) -> None:
    response = audit(consortium)
    assert response.status_code == 200, response.text
    log = response.json()
    verify_checkpoint(consortium, log["checkpoint"])
    cp = log["checkpoint"]["cp"]
    assert log["patient_ref"] == consortium.ref
    assert [e["custodian"] for e in log["entries"]] == ["hospital-a", "insurer-b", "agency-c"]
    assert log["pending"] == 0
    for entry in log["entries"]:
        leaf = b64url(entry["leaf"])
        proof = [bytes.fromhex(h) for h in entry["proof"]["hashes"]]
        assert entry["proof"]["tree_size"] == cp["tree_size"]
        root = rfc9162_root(leaf, entry["index"], cp["tree_size"], proof)
        assert root.hex() == cp["tree_root"]
        tx = json.loads(leaf)["tx"]
        body = tx["body"]
        assert (
            hashlib.sha256(
                json.dumps(tx, sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest()
            == entry["tx_id"]
        )
        assert tx["ts"] == entry["ts"]
        assert tx["org"] == entry["custodian"]
        assert body["patient_ref"] == consortium.ref
        assert body["requester"] == entry["requester"]["org"]
        assert body["requester_role"] == entry["requester"]["role"]
        for name in ("custodian", "purpose", "resource_types", "decision", "basis"):
            assert body[name] == entry[name], name
        assert body["obligations"] == entry["obligations"]
        assert body["break_glass"] == entry["break_glass"]
        assert entry["notify_patient"] == ("notify-patient" in body["obligations"])


def test_the_listed_fields_say_who_when_what_why_and_the_flags(consortium: Consortium) -> None:
    entries = audit(consortium).json()["entries"]
    release, glass, denial = entries
    assert release["requester"] == {"org": "insurer-b", "role": "insurer"}
    assert release["basis"] == ["consent-0042"]
    assert release["decision"] == "permit"
    assert glass["break_glass"] is True
    assert glass["notify_patient"] is True
    assert glass["purpose"] == "ETREAT"
    assert glass["resource_types"] == ["Coverage"]
    assert denial["decision"] == "deny"
    assert denial["notify_patient"] is False


def test_any_member_answers_for_the_whole_consortium(consortium: Consortium) -> None:
    # The patient token is the hospital's; insurer-b's gateway cannot check it: 401.
    assert audit(consortium, "insurer-b").status_code == 401
    mine = audit(consortium).json()
    assert {e["tx_id"] for e in mine["entries"]} <= set(consortium.tx_ids)


def test_a_tampered_proof_or_leaf_fails_the_independent_verifier(consortium: Consortium) -> None:
    log = audit(consortium).json()
    cp = log["checkpoint"]["cp"]
    entry = log["entries"][0]
    proof = [bytes.fromhex(h) for h in entry["proof"]["hashes"]]
    leaf = b64url(entry["leaf"])
    altered = leaf.replace(b'"permit"', b'"deny"')
    assert altered != leaf
    assert rfc9162_root(altered, entry["index"], cp["tree_size"], proof).hex() != cp["tree_root"]
    bad = dict(log["checkpoint"], cp=dict(cp, tree_size=cp["tree_size"] + 1))
    with pytest.raises(InvalidSignature):
        verify_checkpoint(consortium, bad)


def test_the_audit_requires_a_patient_token(consortium: Consortium) -> None:
    url = f"{consortium.urls['hospital-a']}/patient/audit"
    assert httpx.get(url, timeout=30).status_code == 401
    client = {"Authorization": f"Bearer {consortium.client_token('hospital-a')}"}
    assert httpx.get(url, headers=client, timeout=30).status_code == 401


def test_no_default_client_mints_patient_tokens(consortium: Consortium) -> None:
    """The EHR's default scopes (system/*.read, system/*.write) do not reach
    system/PatientToken.write: it must be registered and asked for by name (see
    tests/gateway/patientauth/test_minting.py for a client that has it)."""
    url = f"{consortium.urls['hospital-a']}/patient/token"
    body = {"identifier": {"system": "urn:oid:hospital-a:mrn", "value": "MRN-0042"}}
    assert httpx.post(url, json=body, timeout=30).status_code == 401
    for scope in ("system/Ledger.read", "system/Patient.read", "system/*.read system/*.write"):
        token = consortium.client_token("hospital-a", scope)
        headers = {"Authorization": f"Bearer {token}"}
        answer = httpx.post(url, json=body, headers=headers, timeout=30)
        assert answer.status_code == 403, answer.text
        assert "system/PatientToken.write" in answer.json()["issue"][0]["diagnostics"]
