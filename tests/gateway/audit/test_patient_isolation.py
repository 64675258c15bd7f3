"""Another patient's data is unreachable: two patients of hospital-a, each signed in with an
invitation code, try each other's ids, refs, codes and tokens on every patient route."""

from __future__ import annotations

import time

import httpx
import pytest

from gateway.auth import jwt
from gateway.auth.keys import kid_of
from gateway.cli.patient_auth_cmd import invite
from gateway.demo.consortium import patient_key
from gateway.identity.pseudonym import patient_ref
from tests.gateway.audit.harness import MRN, MRN_SYSTEM, Consortium
from tests.gateway.member import new_key
from tests.gateway.patientauth.flow import (
    Launch,
    code_with_invitation,
    exchange,
    refresh,
    signed_in,
)

OTHER = "MRN-9999"


@pytest.fixture(scope="module")
def two(consortium: Consortium) -> Consortium:
    consortium.hold_patient(OTHER)
    return consortium


def _session(c: Consortium, value: str) -> dict[str, str]:
    with httpx.Client(base_url=c.urls["hospital-a"], timeout=30) as http:
        return signed_in(http, c.settings["hospital-a"], MRN_SYSTEM, value)


def _audit(c: Consortium, token: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{c.urls['hospital-a']}/patient/audit",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_a_patient_sees_only_their_own_accesses_whatever_they_ask(two: Consortium) -> None:
    mine, theirs = _session(two, MRN), _session(two, OTHER)
    other_ref = patient_ref(patient_key(two.root, "hospital-a"), MRN_SYSTEM, OTHER)
    assert mine["patient_ref"] == two.ref != theirs["patient_ref"] == other_ref
    own = _audit(two, mine["access_token"]).json()
    their_log = _audit(two, theirs["access_token"]).json()
    assert own["patient_ref"] == two.ref
    assert own["entries"]
    assert their_log["patient_ref"] == other_ref
    assert their_log["entries"]
    their_txs = {e["tx_id"] for e in their_log["entries"]}
    # The other patient's ref, identifier and tx ids as parameters change nothing.
    for params in (
        {"patient_ref": other_ref},
        {"patient": other_ref},
        {"subject": f"Patient/{other_ref}"},
        {"identifier": f"{MRN_SYSTEM}|{OTHER}"},
        {"_id": next(iter(their_txs))},
        {"_format": "fhir", "patient": other_ref},
    ):
        answer = _audit(two, mine["access_token"], **params)
        assert answer.status_code in (200, 400), answer.text
        assert other_ref not in answer.text
        assert not their_txs & set(answer.text.split('"'))


def test_tokens_codes_and_refresh_tokens_stay_with_their_patient(two: Consortium) -> None:
    settings = two.settings["hospital-a"]
    mine, theirs = _session(two, MRN), _session(two, OTHER)
    base = two.urls["hospital-a"]
    with httpx.Client(base_url=base, timeout=30) as http:
        # A refresh token gives tokens of its own patient only.
        renewed = refresh(http, mine["refresh_token"]).json()
        assert renewed["patient_ref"] == two.ref
        assert jwt.parse(renewed["access_token"]).claims["sub"] == two.ref
        # The other patient's code with my verifier (a stolen code): refused.
        issued = invite(settings, MRN_SYSTEM, OTHER, int(time.time()))
        assert issued is not None
        victim, thief = Launch.new(settings.public_url), Launch.new(settings.public_url)
        stolen = code_with_invitation(http, victim, issued.code)
        refused = exchange(http, thief, stolen)
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"

    # A patient token edited to name the other patient: its signature no longer holds.
    token = mine["access_token"]
    claims = dict(
        jwt.parse(token).claims, sub=theirs["patient_ref"], patient_ref=theirs["patient_ref"]
    )
    header, _, sig = token.split(".")
    forged_body = jwt.sign(claims, new_key(), jwt.parse(token).kid).split(".")[1]
    assert _audit(two, f"{header}.{forged_body}.{sig}").status_code == 401
    # Signed by a key of the forger's own, under the gateway's kid: refused too.
    forger = new_key()
    assert _audit(two, jwt.sign(claims, forger, jwt.parse(token).kid)).status_code == 401
    assert _audit(two, jwt.sign(claims, forger, kid_of(forger.public_key()))).status_code == 401


def test_a_patient_token_opens_no_other_route(two: Consortium) -> None:
    mine = _session(two, MRN)
    bearer = {"Authorization": f"Bearer {mine['access_token']}"}
    base = two.urls["hospital-a"]
    ehr = {"Authorization": f"Bearer {two.client_token('hospital-a')}"}
    patients = httpx.get(f"{base}/fhir/Patient", headers=ehr, timeout=30).json()
    ids = [e["resource"]["id"] for e in patients["entry"]]
    assert len(ids) >= 2
    for path in [f"/fhir/Patient/{i}" for i in ids] + [
        "/fhir/Patient",
        "/ledger/entries/0",
        "/ledger/head",
    ]:
        assert httpx.get(f"{base}{path}", headers=bearer, timeout=30).status_code == 401, path
    body = {"identifier": {"system": MRN_SYSTEM, "value": OTHER}}
    minted = httpx.post(f"{base}/patient/token", json=body, headers=bearer, timeout=30)
    assert minted.status_code == 401
    # And an access token of the hospital's EHR is no patient token.
    assert httpx.get(f"{base}/patient/audit", headers=ehr, timeout=30).status_code == 401
