"""FHIR documents the demo's actors write: the patient's consent, a discharge summary to deliver."""

from __future__ import annotations

from typing import Any

from gateway.demo.synthetic import SyntheticPatient

ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


def permit_consent(
    patient_id: str,
    grantee_org: str,
    purpose: str,
    types: list[str],
    *,
    start: str,
    end: str,
    status: str = "active",
) -> dict[str, Any]:
    """A FHIR R4 Consent: the patient permits ``grantee_org`` to receive ``types`` for ``purpose``
    between ``start`` and ``end`` (an opt-in, as a patient-privacy consent)."""
    return {
        "resourceType": "Consent",
        "status": status,
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": start,
        "policyRule": {"coding": [{"system": ACT_REASON, "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "period": {"start": start, "end": end},
            "actor": [
                {
                    "role": {"coding": [{"system": PARTICIPATION, "code": "IRCP"}]},
                    "reference": {"reference": f"Organization/{grantee_org}"},
                }
            ],
            "purpose": [{"system": ACT_REASON, "code": purpose}],
            "class": [{"system": RESOURCE_TYPES, "code": code} for code in types],
        },
    }


def payment_consent(p: SyntheticPatient, insurer: str, start: str, end: str) -> dict[str, Any]:
    """The patient lets ``insurer`` see claim data for payment, between ``start`` and ``end``."""
    types = ["Claim", "ClaimResponse", "ExplanationOfBenefit", "Coverage"]
    consent = permit_consent(p.pid, insurer, "HPAYMT", types, start=start, end=end)
    return {**consent, "id": f"consent-{p.pid}-{insurer}"}


def revoked(consent: dict[str, Any]) -> dict[str, Any]:
    return {**consent, "status": "inactive"}


def discharge_bundle(p: SyntheticPatient) -> dict[str, Any]:
    """A small collection Bundle: the discharge note of ``p``'s visit."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": f"discharge-{p.pid}",
                    "status": "final",
                    "code": {"text": "Discharge summary"},
                    "subject": {"reference": f"Patient/{p.pid}"},
                    "effectiveDateTime": "2026-11-03T16:00:00Z",
                    "valueString": "Stable; follow up with primary care in two weeks.",
                }
            }
        ],
    }
