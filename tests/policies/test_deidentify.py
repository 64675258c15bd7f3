"""De-identification of realistic FHIR R4 resources: no identifying string of the input survives,
and what remains is still valid R4."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest

from policies.deidentify import deidentify, deidentify_bundle
from tests.policies.fhir_r4 import assert_valid_r4

# Identifying strings planted in the resources below; none may appear in any output.
IDENTIFYING = [
    "Josephine",
    "Quarrington",
    "Jo Q.",
    "Quarrington-Baines",
    "MRN-448812",
    "078-05-1120",
    "+1 603 555 0142",
    "jo.q@example.org",
    "12 Lantern Hill Rd",
    "Apt 4",
    "Hanover",
    "03755",
    "1974-12-25",
    "Patient/pq-77",
    "pq-77",
    "Daniel Quarrington",
    "+1 603 555 0199",
    "lives alone with her cat",
    "Policy 99-1123-A",
    "SUB-5521",
    "fell on the ice outside her home",
    "Jo prefers to be called by her first name",
    "iVBORw0KGgo",
    "CLM-2026-0042",
    "Grafton",
]


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "pq-77",
        "meta": {
            "source": "#ehr-Josephine",
            "profile": ["http://hl7.org/fhir/StructureDefinition/Patient"],
        },
        "text": {
            "status": "generated",
            "div": "<div>Josephine Quarrington, lives alone with her cat</div>",
        },
        "identifier": [
            {"system": "urn:oid:2.16.840.1.113883.4.1", "value": "078-05-1120"},
            {"type": {"text": "MRN"}, "system": "urn:mrn", "value": "MRN-448812"},
        ],
        "name": [
            {"use": "official", "family": "Quarrington", "given": ["Josephine"]},
            {"use": "nickname", "text": "Jo Q."},
            {"use": "maiden", "family": "Quarrington-Baines"},
        ],
        "telecom": [
            {"system": "phone", "value": "+1 603 555 0142"},
            {"system": "email", "value": "jo.q@example.org"},
        ],
        "gender": "female",
        "birthDate": "1974-12-25",
        "address": [
            {
                "line": ["12 Lantern Hill Rd", "Apt 4"],
                "city": "Hanover",
                "district": "Grafton",
                "state": "NH",
                "postalCode": "03755",
                "country": "US",
            }
        ],
        "contact": [
            {
                "name": {"text": "Daniel Quarrington"},
                "telecom": [{"system": "phone", "value": "+1 603 555 0199"}],
            }
        ],
        "photo": [{"contentType": "image/png", "data": "iVBORw0KGgo"}],
        "maritalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "W"}
            ]
        },
        "managingOrganization": {"reference": "Organization/h-north", "display": "North Hospital"},
    }


def encounter() -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": "enc-1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
        "subject": {"reference": "Patient/pq-77", "display": "Josephine Quarrington"},
        "period": {"start": "2026-01-14T08:10:00Z", "end": "2026-01-14T11:45:00Z"},
        "reasonCode": [
            {
                "coding": [{"system": "http://snomed.info/sct", "code": "217082002"}],
                "text": "fell on the ice outside her home",
            }
        ],
    }


def observation() -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "obs-1",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]
        },
        "subject": {"reference": "Patient/pq-77"},
        "encounter": {"reference": "Encounter/enc-1"},
        "effectiveDateTime": "2026-01-14T08:20:00Z",
        "valueQuantity": {
            "value": 88,
            "unit": "/min",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
        "note": [{"text": "Jo prefers to be called by her first name"}],
    }


def claim() -> dict[str, Any]:
    return {
        "resourceType": "Claim",
        "id": "claim-1",
        "identifier": [{"system": "urn:claims", "value": "CLM-2026-0042"}],
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
        "patient": {"reference": "Patient/pq-77", "display": "Josephine Quarrington"},
        "created": "2026-01-15",
        "provider": {"reference": "Organization/h-north"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [
            {
                "sequence": 1,
                "focal": True,
                "coverage": {"reference": "Coverage/cov-1", "display": "Policy 99-1123-A"},
            }
        ],
        "supportingInfo": [
            {
                "sequence": 1,
                "category": {"coding": [{"code": "info"}]},
                "valueString": "fell on the ice outside her home",
            }
        ],
        "accident": {
            "date": "2026-01-14",
            "locationAddress": {"line": ["12 Lantern Hill Rd"], "city": "Hanover", "state": "NH"},
        },
        "item": [
            {
                "sequence": 1,
                "productOrService": {
                    "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99284"}]
                },
            }
        ],
    }


def coverage() -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "id": "cov-1",
        "status": "active",
        "subscriberId": "SUB-5521",
        "identifier": [{"value": "Policy 99-1123-A"}],
        "beneficiary": {"reference": "Patient/pq-77"},
        "payor": [{"reference": "Organization/ins-acme"}],
    }


BASE = "https://custodian.test/fhir"
YEAR = 2026
"""The release year ages are judged against."""


def bundle() -> dict[str, Any]:
    resources = [patient(), encounter(), observation(), claim(), coverage()]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"{BASE}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources
        ],
    }


def pseudonym(reference: str) -> str:
    return hmac.new(
        b"test key held by the gateway", reference.encode(), hashlib.sha256
    ).hexdigest()[:32]


def scrubbed(resource: dict[str, Any]) -> dict[str, Any]:
    out = deidentify(resource, pseudonym, YEAR)
    assert out is not None
    return out


@pytest.mark.parametrize("make", [patient, encounter, observation, claim, coverage, bundle])
def test_no_identifying_string_survives(make: Any) -> None:
    resource = make()
    text = json.dumps(resource).lower()
    planted = [s for s in IDENTIFYING if s.lower() in text]
    assert planted  # each resource carries identifiers to remove
    out = scrubbed(resource)
    leaked = [s for s in planted if s.lower() in json.dumps(out).lower()]
    assert leaked == []
    assert_valid_r4(out)


def test_patient_keeps_what_is_not_identifying() -> None:
    out = scrubbed(patient())
    assert out["birthDate"] == "1974"
    assert out["address"] == [{"state": "NH", "country": "US"}]
    assert out["gender"] == "female"
    assert out["maritalStatus"]["coding"][0]["code"] == "W"
    assert out["managingOrganization"] == {
        "reference": f"Organization/{pseudonym('Organization/h-north')}"
    }
    assert "meta" not in out  # only security labels and tags would stay
    assert out["id"] == pseudonym("Patient/pq-77")


def test_pseudonyms_keep_references_resolving_inside_the_bundle() -> None:
    out = deidentify_bundle(bundle(), pseudonym, YEAR)
    by_type = {e["resource"]["resourceType"]: e for e in out["entry"]}
    pid = by_type["Patient"]["resource"]["id"]
    assert pid == pseudonym("Patient/pq-77")
    assert by_type["Observation"]["resource"]["subject"] == {"reference": f"Patient/{pid}"}
    assert by_type["Claim"]["resource"]["patient"] == {"reference": f"Patient/{pid}"}
    assert by_type["Patient"]["fullUrl"] == f"{BASE}/Patient/{pid}"
    encounter_ref = by_type["Observation"]["resource"]["encounter"]["reference"]
    assert by_type["Encounter"]["fullUrl"] == f"{BASE}/{encounter_ref}"
    assert by_type["Observation"]["resource"]["code"]["coding"][0]["code"] == "8867-4"
    assert out["total"] == 5


def test_dates_keep_the_year_and_instants_go() -> None:
    obs = {**observation(), "issued": "2026-01-14T08:30:00Z", "meta": {"lastUpdated": "x"}}
    out = scrubbed(obs)
    assert out["effectiveDateTime"] == "2026"
    assert "issued" not in out
    assert out["valueQuantity"]["value"] == 88
    assert scrubbed(encounter())["period"] == {"start": "2026", "end": "2026"}


def test_contained_resources_extensions_and_documents() -> None:
    obs = {
        **observation(),
        "contained": [{"resourceType": "Practitioner", "id": "dr", "name": [{"family": "Q"}]}],
        "performer": [{"reference": "#dr"}],
        "extension": [
            {"url": "http://x.test/nickname", "valueString": "Jo"},
            {"url": "http://x.test/flag", "valueBoolean": True},
        ],
    }
    out = scrubbed(obs)
    assert "contained" not in out
    assert "performer" not in out
    assert out["extension"] == [{"url": "http://x.test/flag", "valueBoolean": True}]
    modified = {**observation(), "modifierExtension": [{"url": "u", "valueBoolean": True}]}
    assert deidentify(modified, pseudonym, YEAR) is None
    document = {"resourceType": "DocumentReference", "id": "d", "status": "current"}
    assert deidentify(document, pseudonym, YEAR) is None


def test_input_is_not_modified() -> None:
    original = bundle()
    kept = copy.deepcopy(original)
    deidentify_bundle(original, pseudonym, YEAR)
    assert original == kept


@pytest.mark.parametrize(
    ("born", "kept"),
    [("1937-03-02", "1937"), ("1936-12-31", None), ("1936", None), ("1901-05", None)],
)
def test_a_birth_year_that_may_mean_90_or_older_goes(born: str, kept: str | None) -> None:
    """Safe Harbor: ages over 89 and the dates (year included) that indicate them are one
    category. Born in 1936, a patient may be 90 in 2026: the year goes, with the death date."""
    resource = patient() | {"birthDate": born, "deceasedDateTime": "2025-01-02T10:00:00Z"}
    out = scrubbed(resource)
    assert out.get("birthDate") == kept
    assert ("deceasedDateTime" in out) == (kept is not None)
    assert_valid_r4(out)


def test_ages_of_90_and_more_become_one_category() -> None:
    def onset(years: int) -> dict[str, Any]:
        return {"value": years, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}

    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "onsetAge": onset(97),
        "abatementAge": onset(45),
    }
    out = scrubbed(condition)
    assert out["onsetAge"] | {} == onset(90) | {"comparator": ">="}
    assert out["abatementAge"] == onset(45)
    assert_valid_r4(out)
