"""The exchange on the production ordering: two gateways over a real 3-node NATS JetStream cluster."""

from __future__ import annotations

import pytest

from ledger.state import consent
from tests.e2e import records
from tests.e2e.flows import ask, ledger_consent_id, seed, types_of
from tests.e2e.gateways import Consortium, wait_for
from tests.e2e.test_insurer_claims import assert_denied, status_at

pytestmark = [pytest.mark.e2e, pytest.mark.nats]


def test_consent_query_and_revocation_over_nats(on_nats: Consortium) -> None:
    hospital, insurer = on_nats["hospital-a"], on_nats["insurer"]
    patient = seed(hospital, claims=2)
    headers = hospital.auth()
    consent_id = hospital.create(
        records.consent(patient.patient_id, "insurer", "HPAYMT", ["Claim"]), headers
    )
    on_ledger = ledger_consent_id(hospital, consent_id)
    wait_for(lambda: insurer.read_state(lambda s: consent(s, on_ledger)), "consent at insurer")
    answer = ask(insurer, "hospital-a", patient.national_id, "HPAYMT", ["Claim", "Observation"])
    assert answer.status_code == 200, answer.text
    assert types_of(answer.json()) == ["Claim", "Claim"]

    current = hospital.http.get(f"/fhir/Consent/{consent_id}", headers=headers).json()
    revoked = hospital.http.put(
        f"/fhir/Consent/{consent_id}",
        json={**current, "status": "rejected"},
        headers={**headers, "Content-Type": "application/fhir+json"},
    )
    assert revoked.status_code == 200, revoked.text
    wait_for(lambda: status_at(insurer, on_ledger) == "revoked", "revocation at insurer")
    assert_denied(ask(insurer, "hospital-a", patient.national_id, "HPAYMT", ["Claim"]))
