"""FHIR documents the demo's actors write: the patient's consent, a discharge summary to deliver."""

from __future__ import annotations

from typing import Any

from gateway.demo.synthetic import SyntheticPatient

ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"


def payment_consent(p: SyntheticPatient, insurer: str, start: str, end: str) -> dict[str, Any]:
    """The patient lets ``insurer`` see claim data for payment, between ``start`` and ``end``."""
    return {
        "resourceType": "Consent",
        "id": f"consent-{p.pid}-{insurer}",
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{p.pid}"},
        "dateTime": start,
        "provision": {
            "type": "permit",
            "period": {"start": start, "end": end},
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "IRCP",
                            }
                        ]
                    },
                    "reference": {"reference": f"Organization/{insurer}"},
                }
            ],
            "purpose": [{"system": ACT_REASON, "code": "HPAYMT"}],
            "class": [
                {"system": RESOURCE_TYPES, "code": code}
                for code in ("Claim", "ClaimResponse", "ExplanationOfBenefit", "Coverage")
            ],
        },
    }


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
