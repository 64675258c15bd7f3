"""Synthetic patients for the demo: valid FHIR R4 records, none of them about a real person.

Each patient gets the resources the flows exercise: Patient, Encounter, Condition, Observation,
MedicationRequest, Coverage, Claim and ExplanationOfBenefit, linked by references.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5"
"""The demo hospitals' shared MRN namespace (an HL7 example OID)."""

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"


@dataclass(frozen=True, slots=True)
class SyntheticPatient:
    mrn: str
    given: str
    family: str
    birth_date: str
    phone: str
    city: str

    @property
    def pid(self) -> str:
        return f"pat-{self.mrn.lower()}"


PATIENTS = [
    SyntheticPatient("MRN-0001", "Avery", "Quill", "1961-04-12", "+1-555-0101", "Springfield"),
    SyntheticPatient("MRN-0002", "Rowan", "Castell", "1978-09-30", "+1-555-0102", "Shelbyville"),
    SyntheticPatient("MRN-0003", "Jules", "Marlowe", "1990-01-05", "+1-555-0103", "Ogdenville"),
]


def _ref(kind: str, ident: str) -> dict[str, str]:
    return {"reference": f"{kind}/{ident}"}


def _code(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def patient(p: SyntheticPatient) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": p.pid,
        "identifier": [{"system": MRN_SYSTEM, "value": p.mrn}],
        "name": [{"family": p.family, "given": [p.given]}],
        "telecom": [{"system": "phone", "value": p.phone}],
        "gender": "unknown",
        "birthDate": p.birth_date,
        "address": [{"line": ["1 Synthetic Way"], "city": p.city, "postalCode": "00000"}],
    }


def clinical(p: SyntheticPatient, day: str = "2026-11-02") -> list[dict[str, Any]]:
    """Encounter, Condition, Observation and MedicationRequest of one visit."""
    subject = _ref("Patient", p.pid)
    enc = f"enc-{p.pid}"
    return [
        {
            "resourceType": "Encounter",
            "id": enc,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": subject,
            "period": {"start": f"{day}T09:00:00Z", "end": f"{day}T09:40:00Z"},
        },
        {
            "resourceType": "Condition",
            "id": f"cond-{p.pid}",
            "clinicalStatus": _code(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
            ),
            "code": _code(SNOMED, "38341003", "Hypertensive disorder"),
            "subject": subject,
            "encounter": _ref("Encounter", enc),
            "recordedDate": day,
        },
        {
            "resourceType": "Observation",
            "id": f"obs-{p.pid}",
            "status": "final",
            "code": _code(LOINC, "8480-6", "Systolic blood pressure"),
            "subject": subject,
            "encounter": _ref("Encounter", enc),
            "effectiveDateTime": f"{day}T09:10:00Z",
            "valueQuantity": {
                "value": 148,
                "unit": "mmHg",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
            "note": [{"text": f"Measured twice; {p.given} reports headaches."}],
        },
        {
            "resourceType": "MedicationRequest",
            "id": f"med-{p.pid}",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": _code(
                "http://www.nlm.nih.gov/research/umls/rxnorm", "197361", "Amlodipine 5 MG"
            ),
            "subject": subject,
            "encounter": _ref("Encounter", enc),
            "authoredOn": day,
        },
    ]


def claims(
    p: SyntheticPatient, insurer: str, count: int = 1, day: str = "2026-11-02"
) -> list[dict[str, Any]]:
    """Coverage with ``insurer``, ``count`` Claims for the visit, and their ExplanationOfBenefit."""
    subject = _ref("Patient", p.pid)
    cov = f"cov-{p.pid}"
    out: list[dict[str, Any]] = [
        {
            "resourceType": "Coverage",
            "id": cov,
            "status": "active",
            "beneficiary": subject,
            "payor": [{"display": insurer}],
        }
    ]
    for n in range(count):
        claim = f"claim-{p.pid}-{n}"
        out.append(_claim(claim, subject, cov, day, n))
        out.append(_eob(claim, subject, cov, day))
    return out


def _claim(ident: str, subject: dict[str, str], cov: str, day: str, n: int) -> dict[str, Any]:
    return {
        "resourceType": "Claim",
        "id": ident,
        "status": "active",
        "type": _code(
            "http://terminology.hl7.org/CodeSystem/claim-type", "professional", "Professional"
        ),
        "use": "claim",
        "patient": subject,
        "created": day,
        "provider": {"display": "Synthetic Clinic"},
        "priority": _code(
            "http://terminology.hl7.org/CodeSystem/processpriority", "normal", "Normal"
        ),
        "insurance": [{"sequence": 1, "focal": True, "coverage": _ref("Coverage", cov)}],
        "item": [
            {
                "sequence": 1,
                "productOrService": _code(SNOMED, "185349003", "Encounter for check up"),
                "unitPrice": {"value": 120 + n, "currency": "USD"},
            }
        ],
    }


def _eob(claim: str, subject: dict[str, str], cov: str, day: str) -> dict[str, Any]:
    return {
        "resourceType": "ExplanationOfBenefit",
        "id": f"eob-{claim}",
        "status": "active",
        "type": _code(
            "http://terminology.hl7.org/CodeSystem/claim-type", "professional", "Professional"
        ),
        "use": "claim",
        "patient": subject,
        "created": day,
        "insurer": {"display": "Synthetic Insurer"},
        "provider": {"display": "Synthetic Clinic"},
        "claim": _ref("Claim", claim),
        "outcome": "complete",
        "insurance": [{"focal": True, "coverage": _ref("Coverage", cov)}],
    }


def records(p: SyntheticPatient, insurer: str, claim_count: int = 1) -> list[dict[str, Any]]:
    """Everything a hospital holds about ``p``, Patient first (others reference it)."""
    return [patient(p), *clinical(p), *claims(p, insurer, claim_count)]
