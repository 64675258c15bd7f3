"""The demo's synthetic records are valid FHIR R4 (they go through the same ingest validation)."""

from __future__ import annotations

import pytest
from fhir.resources.R4B import get_fhir_model_class

from gateway.demo import synthetic
from gateway.demo.scenes import discharge_bundle, payment_consent, revoked


def _all() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for p in synthetic.PATIENTS:
        out.extend(synthetic.records(p, "insurer-c", claim_count=3))
    consent = payment_consent(
        synthetic.PATIENTS[0], "insurer-c", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"
    )
    return [*out, consent, revoked(consent), discharge_bundle(synthetic.PATIENTS[0])]


@pytest.mark.parametrize("resource", _all(), ids=lambda r: f"{r['resourceType']}/{r.get('id', '')}")
def test_resource_is_valid_r4(resource: dict[str, object]) -> None:
    model = get_fhir_model_class(str(resource["resourceType"]))
    assert model.model_validate(resource).id == resource.get("id")


def test_every_resource_type_the_flows_need_is_there() -> None:
    kinds = {str(r["resourceType"]) for r in _all()}
    wanted = {
        "Patient",
        "Encounter",
        "Condition",
        "Observation",
        "MedicationRequest",
        "Claim",
        "ExplanationOfBenefit",
        "Coverage",
        "Consent",
        "Bundle",
    }
    assert wanted <= kinds
