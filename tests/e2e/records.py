"""Synthetic FHIR R4 records for the end-to-end tests (invented people, never real data)."""

from __future__ import annotations

from typing import Any

from gateway.demo.scenes import permit_consent

NATIONAL_ID = "urn:medgate:test:national-id"
"""The identifier system every member uses for a patient: how gateways link one patient."""


def patient(value: str, family: str, given: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": NATIONAL_ID, "value": value}],
        "name": [{"family": family, "given": [given]}],
        "telecom": [{"system": "phone", "value": "+44 20 7946 0991"}],
        "birthDate": "1961-04-17",
        "address": [
            {
                "line": ["12 Quarry Lane"],
                "city": "Dunmore",
                "postalCode": "DN4 7QX",
                "country": "GB",
            }
        ],
    }


def claim(patient_id: str, n: int) -> dict[str, Any]:
    return {
        "resourceType": "Claim",
        "status": "active",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": "institutional",
                }
            ]
        },
        "use": "claim",
        "patient": {"reference": f"Patient/{patient_id}"},
        "created": f"2026-01-{1 + n % 28:02d}",
        "provider": {"reference": "Organization/provider-1"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov-1"}}],
        "total": {"value": 100 + n, "currency": "EUR"},
    }


def observation(patient_id: str, value: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": "2026-02-03T10:00:00Z",
        "valueQuantity": {"value": value, "unit": "beats/minute"},
        "note": [{"text": "patient said she lives with her sister"}],
    }


def condition(patient_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "code": {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"}
            ]
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "recordedDate": "2025-11-20",
    }


def consent(
    patient_id: str,
    grantee_org: str,
    purpose: str,
    types: list[str],
    *,
    start: str = "2020-01-01",
    end: str = "2099-01-01",
    status: str = "active",
) -> dict[str, Any]:
    """The patient permits ``grantee_org`` to receive ``types`` for ``purpose`` in [start, end)."""
    return permit_consent(
        patient_id, grantee_org, purpose, types, start=start, end=end, status=status
    )
