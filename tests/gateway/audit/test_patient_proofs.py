"""A patient's token fetches the consistency proof between two checkpoints it saw (ledger-wide
hashes, nothing of any patient), and nothing else of the ledger API; bad patient tokens are
refused with their own reason."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest

from gateway.auth import jwt
from gateway.crypto import b64
from gateway.identity.files import load_private_key
from gateway.identity.pseudonym import load_patient_key
from gateway.services.patient_tokens import PATIENT_TOKEN_SECONDS, PatientTokens
from ledger.errors import RootMismatchError
from ledger.ids import PatientRef
from ledger.merkle import verify_consistency
from tests.gateway.audit.harness import Consortium

HOSPITAL = "hospital-a"


def get(c: Consortium, path: str, token: str, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{c.urls[HOSPITAL]}{path}", params=params, headers=headers, timeout=30)


def consistency(c: Consortium, token: str, first: int, second: int) -> httpx.Response:
    return get(c, "/ledger/proof/consistency", token, **{"from": first, "to": second})


def tokens_of(c: Consortium) -> PatientTokens:
    """The hospital's own patient token issuer, from its key files (to mint odd tokens)."""
    settings = c.settings[HOSPITAL]
    key = load_private_key(settings.keys.token_key)
    return PatientTokens(
        settings.public_url, key, load_patient_key(settings.keys.patient_key.read_bytes())
    )


def test_a_patient_token_gets_a_consistency_proof_that_verifies(consortium: Consortium) -> None:
    token = consortium.patient_token()
    audit = get(consortium, "/patient/audit", token).json()
    cp = audit["checkpoint"]["cp"]
    smart = consortium.client_token(HOSPITAL, "system/Ledger.read")
    old = get(consortium, "/ledger/blocks/0", smart).json()  # genesis: 1 entry, the cp holds 6
    assert old["tree_size"] < cp["tree_size"]
    response = consistency(consortium, token, old["tree_size"], cp["tree_size"])
    assert response.status_code == 200, response.text
    proof = response.json()
    assert (proof["from"], proof["to"]) == (old["tree_size"], cp["tree_size"])
    hashes = [bytes.fromhex(h) for h in proof["hashes"]]
    roots = bytes.fromhex(old["tree_root"]), bytes.fromhex(cp["tree_root"])
    verify_consistency(old["tree_size"], cp["tree_size"], hashes, *roots)
    with pytest.raises(RootMismatchError):  # the check can fail: another old root is refused
        verify_consistency(old["tree_size"], cp["tree_size"], hashes, bytes(32), roots[1])


def test_a_patient_token_reads_no_entry_nor_inclusion_proof(consortium: Consortium) -> None:
    """Entries and per-entry proofs name other patients' accesses: not the patient's to read."""
    token = consortium.patient_token()
    for path, params in (
        ("/ledger/entries/1", {}),
        ("/ledger/proof/inclusion", {"index": 1, "size": 2}),
        ("/ledger/head", {}),
        ("/ledger/checkpoint", {}),
    ):
        response = get(consortium, path, token, **params)
        assert response.status_code == 401, (path, response.text)


def _forged(token: str) -> str:
    """The token with its subject changed to another patient, signature kept."""
    header, _, signature = token.split(".")
    claims = dict(jwt.parse(token).claims)
    claims["sub"] = claims["patient_ref"] = "A" * 43
    payload = b64.encode_str(orjson.dumps(claims))
    return f"{header}.{payload}.{signature}"


def test_bad_patient_tokens_are_refused_with_their_reason(consortium: Consortium) -> None:
    issuer = tokens_of(consortium)
    ref = PatientRef(consortium.ref)
    good = issuer.issue(ref, int(time.time())).access_token
    assert consistency(consortium, good, 1, 2).status_code == 200
    expired = issuer.issue(ref, int(time.time()) - PATIENT_TOKEN_SECONDS - 120).access_token
    forged = _forged(good)
    smart_key = load_private_key(consortium.settings[HOSPITAL].keys.token_key)
    claims = dict(jwt.parse(good).claims)
    wrong_audience = jwt.sign(
        {**claims, "aud": consortium.settings[HOSPITAL].public_url},
        smart_key,
        jwt.parse(good).kid,
    )
    for name, token, reason in (
        ("expired", expired, "'exp'"),
        ("forged", forged, "signature"),
        ("wrong audience", wrong_audience, ""),
    ):
        response = consistency(consortium, token, 1, 2)
        assert response.status_code == 401, (name, response.text)
        diagnostics = response.json()["issue"][0]["diagnostics"]
        assert reason in diagnostics, (name, diagnostics)


def test_a_patient_token_is_refused_by_another_members_gateway(consortium: Consortium) -> None:
    """Addressed to hospital-a's patient audience: insurer-b's gateway does not take it."""
    token = consortium.patient_token()
    url = f"{consortium.urls['insurer-b']}/ledger/proof/consistency"
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.get(url, params={"from": 1, "to": 2}, headers=headers, timeout=30)
    assert response.status_code == 401, response.text
