"""Back-end minting of patient tokens: only with system/PatientToken.write (which no wildcard and
no default client reaches), only for a patient the hospital holds, each minting logged without PHI."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth.keys import public_jwk
from gateway.auth.scopes import grant, render
from gateway.cli.patient_cmd import mint
from tests.gateway.member import Member, client_assertion, new_key
from tests.gateway.patientauth.conftest import ALICE, MRN_SYSTEM, Hospital

MINTER = """
[[clients]]
client_id = "portal-backend"
jwks_path = "clients/minter.jwks.json"
scopes = ["system/PatientToken.write"]
"""


def _token(
    http: httpx.Client, key: ec.EllipticCurvePrivateKey, client_id: str, scope: str, now: int
) -> httpx.Response:
    assertion = client_assertion(key, "http://testserver/auth/token", now, client_id=client_id)
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "scope": scope,
    }
    return http.post("/auth/token", data=form)


def _mint(http: httpx.Client, token: str, value: str) -> httpx.Response:
    body = {"identifier": {"system": MRN_SYSTEM, "value": value}}
    return http.post("/patient/token", json=body, headers={"Authorization": f"Bearer {token}"})


def test_wildcards_never_reach_the_minting_scope() -> None:
    assert render(grant(["system/*.*"], ["system/*.*"])) == "system/*.*"
    assert grant(["system/PatientToken.write"], ["system/*.*", "system/*.write"]) == frozenset()
    assert grant(["system/*.write"], ["system/PatientToken.write"]) == frozenset()
    only = grant(["system/PatientToken.write"], ["system/PatientToken.write"])
    assert render(only) == "system/PatientToken.write"


def test_the_ehr_with_every_default_scope_cannot_mint(hospital: Hospital) -> None:
    for scope in ("system/*.read system/*.write", "system/*.*", "system/PatientToken.write"):
        answer = _token(hospital.http, hospital.member.client_key, "ehr", scope, hospital.clock.now)
        if answer.status_code != 200:
            assert answer.json()["error"] == "invalid_scope"
            continue
        minted = _mint(hospital.http, answer.json()["access_token"], ALICE)
        assert minted.status_code == 403, minted.text
        assert (
            minted.json()["issue"][0]["diagnostics"] == "scope system/PatientToken.write required"
        )


def test_a_client_registered_for_it_mints_only_for_held_patients(
    hospital_with: Callable[[str], Hospital], member: Member, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key()
    jwks = {"keys": [public_jwk(key.public_key())]}
    (member.config.parent / "clients" / "minter.jwks.json").write_bytes(orjson.dumps(jwks))
    hospital = hospital_with(MINTER)
    answer = _token(
        hospital.http, key, "portal-backend", "system/PatientToken.write", hospital.clock.now
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    with caplog.at_level(logging.INFO, logger="medgate.patient"):
        minted = _mint(hospital.http, token, ALICE)
    assert minted.status_code == 200, minted.text
    body = minted.json()
    assert body["scope"] == "patient/AuditEvent.read"
    lines = [r for r in caplog.records if getattr(r, "event", None) == "patient_token.minted"]
    assert len(lines) == 1
    assert lines[0].patient_ref == body["patient_ref"]  # type: ignore[attr-defined]
    assert lines[0].client_id == "portal-backend"  # type: ignore[attr-defined]
    assert ALICE not in str(vars(lines[0]))

    unknown = _mint(hospital.http, token, "MRN-NOT-HERE")
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["resourceType"] == "OperationOutcome"
    # A patient token cannot mint another one.
    assert _mint(hospital.http, body["access_token"], ALICE).status_code == 401


def test_the_operator_command_mints_for_held_patients_only(hospital: Hospital) -> None:
    token = mint(hospital.settings, MRN_SYSTEM, ALICE, hospital.clock.now)
    assert token is not None
    audit = hospital.http.get("/patient/audit", headers={"Authorization": f"Bearer {token}"})
    assert audit.status_code == 503  # authenticated; this test gateway runs no ledger
    assert mint(hospital.settings, MRN_SYSTEM, "MRN-NOT-HERE", hospital.clock.now) is None
    cmd = [sys.executable, "-m", "gateway.cli.main", "patient-token", "--config"]
    done = subprocess.run(
        [*cmd, str(hospital.member.config), "--system", MRN_SYSTEM, "MRN-NOT-HERE"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "holds no patient" in done.stderr
    ok = subprocess.run(
        [*cmd, str(hospital.member.config), "--system", MRN_SYSTEM, ALICE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    logged = orjson.loads(ok.stderr.strip().splitlines()[-1])
    assert logged["event"] == "patient_token.minted"
    assert ALICE not in ok.stderr
