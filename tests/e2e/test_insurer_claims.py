"""Insurer claims over real gateways: consent narrows, no consent / revoked / expired is a
recorded 403, and a revocation reaches every gateway once its block is committed there."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ledger.state import AccessRecord, access_for_patient, consent
from tests.e2e import records
from tests.e2e.flows import ask, ledger_consent_id, patient_ref_at, seed, seed_more, types_of
from tests.e2e.gateways import Consortium, Gateway, wait_for

pytestmark = pytest.mark.e2e


def recorded(reader: Gateway, patient_ref: str, tx: str) -> AccessRecord:
    """The access.record ``tx`` as ``reader``'s own ledger state holds it (waits for the block)."""

    def find() -> AccessRecord | None:
        found = reader.read_state(lambda s: access_for_patient(s, patient_ref))
        return next((r for r in found if r.tx_id == tx), None)

    return wait_for(find, f"access record {tx} at {reader.org}")


def status_at(gateway: Gateway, consent_id: str) -> str | None:
    found = gateway.read_state(lambda s: consent(s, consent_id))  # the ledger's opaque id
    return None if found is None else found.status


def assert_denied(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 403, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "forbidden"
    return outcome


def test_consented_insurer_receives_only_claims(solo: Consortium) -> None:
    hospital, insurer = solo["hospital-a"], solo["insurer"]
    patient = seed(hospital, claims=3)
    hospital.create(
        records.consent(patient.patient_id, "insurer", "HPAYMT", ["Claim"]), hospital.auth()
    )
    answer = ask(insurer, "hospital-a", patient.national_id, "HPAYMT", ["Claim", "Observation"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+json")
    assert types_of(answer.json()) == ["Claim"] * 3
    # Another member's own ledger holds the release: narrowed types, what was asked, the digest.
    record = recorded(
        solo["agency"],
        patient_ref_at(hospital, patient.national_id),
        answer.headers["X-Medgate-Access-Tx"],
    )
    assert (record.decision, record.resource_types) == ("permit", ("Claim",))
    assert (record.requester, record.custodian) == ("insurer", "hospital-a")
    assert record.envelope_digest is not None


def test_without_consent_a_recorded_denial(solo: Consortium) -> None:
    hospital, insurer = solo["hospital-a"], solo["insurer"]
    patient = seed(hospital, claims=2)
    answer = ask(insurer, "hospital-a", patient.national_id, "HPAYMT", ["Claim"])
    outcome = assert_denied(answer)
    assert "deny:no-consent" in outcome["issue"][0]["diagnostics"]
    assert patient.national_id not in answer.text
    record = recorded(
        solo["hospital-b"],
        patient_ref_at(hospital, patient.national_id),
        answer.headers["X-Medgate-Access-Tx"],
    )
    assert (record.decision, record.reason, record.envelope_digest) == (
        "deny",
        "deny:no-consent",
        None,
    )


def test_consent_whose_period_ended_is_refused(solo: Consortium) -> None:
    hospital, insurer = solo["hospital-a"], solo["insurer"]
    patient = seed(hospital, claims=1)
    expired = records.consent(
        patient.patient_id, "insurer", "HPAYMT", ["Claim"], start="2020-01-01", end="2021-01-01"
    )
    hospital.create(expired, hospital.auth())
    assert_denied(ask(insurer, "hospital-a", patient.national_id, "HPAYMT", ["Claim"]))


def test_revocation_is_enforced_by_every_gateway_once_committed(solo: Consortium) -> None:
    hospital_a, hospital_b, insurer = solo["hospital-a"], solo["hospital-b"], solo["insurer"]
    patient = seed(hospital_a, claims=2)
    seed_more(hospital_b, patient.national_id, claims=1)
    headers = hospital_a.auth()
    consent_id = hospital_a.create(
        records.consent(patient.patient_id, "insurer", "HPAYMT", ["Claim"]), headers
    )
    # hospital-b holds no Consent of its own: it permits on the terms hospital-a recorded.
    on_ledger = ledger_consent_id(hospital_a, consent_id)
    wait_for(lambda: hospital_b.read_state(lambda s: consent(s, on_ledger)), "consent at b")
    before = [
        ask(insurer, org, patient.national_id, "HPAYMT", ["Claim"])
        for org in ("hospital-a", "hospital-b")
    ]
    assert [a.status_code for a in before] == [200, 200], [a.text for a in before]
    assert [len(types_of(a.json())) for a in before] == [2, 1]

    current = hospital_a.http.get(f"/fhir/Consent/{consent_id}", headers=headers).json()
    revoked = hospital_a.http.put(
        f"/fhir/Consent/{consent_id}",
        json={**current, "status": "inactive"},
        headers={**headers, "Content-Type": "application/fhir+json"},
    )
    assert revoked.status_code == 200, revoked.text
    for gateway in (hospital_a, hospital_b, insurer):
        wait_for(lambda g=gateway: status_at(g, on_ledger) == "revoked", f"revoke at {gateway.org}")
    for org in ("hospital-a", "hospital-b"):
        assert_denied(ask(insurer, org, patient.national_id, "HPAYMT", ["Claim"]))
