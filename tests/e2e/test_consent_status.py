"""Consents fail closed, through the real API: only a Consent whose status is exactly ``active``
permits; every FHIR R4 Consent status and every transition between two of them is checked, and a
malformed provision or an unknown status grants nothing."""

from __future__ import annotations

import itertools
import secrets
from typing import Any

import httpx
import pytest

from ledger.state import consents_for_patient
from tests.e2e import records
from tests.e2e.flows import ask, patient_ref_at
from tests.e2e.gateways import Consortium, Gateway

pytestmark = pytest.mark.e2e

STATUSES = ("draft", "proposed", "active", "rejected", "inactive", "entered-in-error")
"""Every code of the R4 Consent.status value set (required binding)."""
FHIR = {"Content-Type": "application/fhir+json"}


def new_patient(hospital: Gateway, headers: dict[str, str]) -> tuple[str, str]:
    national_id = f"NID-{secrets.token_hex(6)}"
    pid = hospital.create(records.patient(national_id, "Quarrington", "Josephine"), headers)
    hospital.create(records.claim(pid, 0), headers)
    return national_id, pid


def put(
    hospital: Gateway, consent_id: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return hospital.http.put(f"/fhir/Consent/{consent_id}", json=body, headers=headers | FHIR)


def permitted(insurer: Gateway, national_id: str) -> bool:
    answer = ask(insurer, "hospital-a", national_id, "HPAYMT", ["Claim"])
    assert answer.status_code in (200, 403), answer.text
    return answer.status_code == 200


def ledger_statuses(hospital: Gateway, national_id: str) -> list[str]:
    ref = patient_ref_at(hospital, national_id)
    return [c.status for c in hospital.read_state(lambda s: consents_for_patient(s, ref))]


@pytest.mark.parametrize(("before", "after"), list(itertools.product(STATUSES, STATUSES)))
def test_only_an_active_consent_permits(solo: Consortium, before: str, after: str) -> None:
    hospital, insurer = solo["hospital-a"], solo["insurer"]
    headers = hospital.auth()
    national_id, pid = new_patient(hospital, headers)
    consent = records.consent(pid, "insurer", "HPAYMT", ["Claim"], status=before)
    consent_id = hospital.create(consent, headers)
    assert permitted(insurer, national_id) is (before == "active")

    answer = put(hospital, consent_id, {**consent, "id": consent_id, "status": after}, headers)
    assert answer.status_code == 200, answer.text
    assert permitted(insurer, national_id) is (after == "active")
    # The write returns once this node committed the entry: the ledger says the same.
    expected = {
        (True, True): ["active"],
        (True, False): ["revoked"],
        (False, True): ["active"],
        (False, False): [],
    }[(before == "active", after == "active")]
    assert ledger_statuses(hospital, national_id) == expected


def test_a_malformed_provision_revokes(solo: Consortium) -> None:
    hospital, insurer = solo["hospital-a"], solo["insurer"]
    headers = hospital.auth()
    national_id, pid = new_patient(hospital, headers)
    consent = records.consent(pid, "insurer", "HPAYMT", ["Claim"])
    consent_id = hospital.create(consent, headers)
    assert permitted(insurer, national_id)
    # Still "active", but the provision names no actor nor purpose: nothing it could grant.
    provision = {"type": "permit", "period": consent["provision"]["period"]}
    answer = put(
        hospital, consent_id, {**consent, "id": consent_id, "provision": provision}, headers
    )
    assert answer.status_code == 200, answer.text
    assert not permitted(insurer, national_id)
    assert ledger_statuses(hospital, national_id) == ["revoked"]


@pytest.mark.parametrize("status", ["banana", "Inactive", "ACTIVE", "", "active\u0000"])
def test_an_unknown_status_is_refused_and_changes_nothing(solo: Consortium, status: str) -> None:
    hospital, insurer = solo["hospital-a"], solo["insurer"]
    headers = hospital.auth()
    national_id, pid = new_patient(hospital, headers)
    consent = records.consent(pid, "insurer", "HPAYMT", ["Claim"], status="draft")
    consent_id = hospital.create(consent, headers)
    answer = put(hospital, consent_id, {**consent, "id": consent_id, "status": status}, headers)
    assert answer.status_code in (400, 422), answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    if status:  # an empty string is refused by the model itself, located the same way
        assert answer.status_code == 422
        assert ["status"] in [i.get("expression") for i in outcome["issue"]]
    stored = hospital.http.get(f"/fhir/Consent/{consent_id}", headers=headers).json()
    assert stored["status"] == "draft"
    assert not permitted(insurer, national_id)
    assert ledger_statuses(hospital, national_id) == []
