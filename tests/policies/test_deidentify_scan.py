"""An adversarial scan of de-identified Bundles: patients whose MRN, name, phone and e-mail are
embedded in resource ids, fullUrls, references, narrative, notes, identifiers, extensions,
contained resources and attachments; no string of the output holds any of them, nor any 6-character
piece of one (case-insensitively); references still resolve inside the Bundle; the output is R4."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.deidentify import deidentify_bundle
from tests.policies.fhir_r4 import assert_valid_r4

BASE = "https://custodian.test/fhir"
WINDOW = 6
LOINC = "http://loinc.org"


@dataclass(frozen=True)
class Person:
    mrn: str
    family: str
    given: str
    phone: str
    email: str

    def values(self) -> list[str]:
        return [self.mrn, self.family, self.given, self.phone, self.email]

    def needles(self) -> set[str]:
        """Each value, and each 6-character piece of it, lower-cased."""
        found = set()
        for value in self.values():
            low = value.lower()
            found.add(low)
            found.update(low[i : i + WINDOW] for i in range(len(low) - WINDOW + 1))
        return found


digits = st.text(string.digits, min_size=7, max_size=10)


def _vocabulary() -> str:
    """The strings every release of these templates holds whoever the patient is (element names,
    codes, the base URL): a name such as "gender" or "status" is no leak when found there."""
    neutral = Person("mrn0", "Q", "Q", "0", "q@q.test")
    out = deidentify_bundle(bundle_of(neutral, 3), lambda r: "", 2026)
    return " ".join(strings(out)).lower()


def _not_vocabulary(word: str) -> bool:
    return not any(word[i : i + WINDOW] in VOCABULARY for i in range(len(word) - WINDOW + 1))


letters = st.text(string.ascii_lowercase, min_size=6, max_size=12)
people = st.builds(
    lambda mrn, family, given, phone, local, domain: Person(
        f"mrn{mrn}", family.capitalize(), given.capitalize(), phone, f"{local}@{domain}.test"
    ),
    digits,
    letters,
    letters,
    digits,
    letters,
    letters,
).filter(lambda p: all(_not_vocabulary(v.lower()) for v in p.values()))


def narrative(p: Person) -> dict[str, str]:
    div = f"<div>{p.given} {p.family}, MRN {p.mrn}, {p.phone}, {p.email}</div>"
    return {"status": "generated", "div": div}


def patient(p: Person) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"pat-{p.mrn}",
        "text": narrative(p),
        "identifier": [{"system": "urn:mrn", "value": p.mrn}],
        "name": [{"family": p.family, "given": [p.given]}],
        "telecom": [{"system": "phone", "value": p.phone}, {"system": "email", "value": p.email}],
        "gender": "female",
        "birthDate": "1961-04-17",
        "extension": [{"url": "http://x.test/alias", "valueString": f"{p.given}-{p.mrn}"}],
    }


def observation(p: Person, n: int, absolute: bool) -> dict[str, Any]:
    subject = f"{BASE}/Patient/pat-{p.mrn}" if absolute else f"Patient/pat-{p.mrn}"
    return {
        "resourceType": "Observation",
        "id": f"obs-{p.family}-{n}",
        "meta": {"source": f"#{p.email}", "security": [{"code": "N"}]},
        "text": narrative(p),
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "8867-4", "display": p.family}]},
        "subject": {"reference": subject, "display": f"{p.given} {p.family}"},
        "encounter": {"reference": f"Encounter/enc-{p.phone}"},
        "effectiveDateTime": "2026-02-03T10:00:00Z",
        "issued": "2026-02-03T10:05:00Z",
        "valueQuantity": {"value": 60 + n, "unit": "/min"},
        "note": [{"authorString": p.given, "text": f"call {p.phone} or {p.email}"}],
        "contained": [{"resourceType": "Practitioner", "id": p.mrn, "name": [{"text": p.family}]}],
        "performer": [{"reference": f"#{p.mrn}"}],
    }


def condition(p: Person) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"cond-pat-{p.mrn}",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
        "subject": {"reference": f"Patient/pat-{p.mrn}"},
        "encounter": {"reference": f"{BASE}/Encounter/enc-{p.phone}/_history/2"},
        "recordedDate": "2025-11-20",
        "note": [{"text": f"{p.given} {p.family} said so"}],
    }


def encounter(p: Person) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": f"enc-{p.phone}",
        "identifier": [{"value": p.mrn}],
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/pat-{p.mrn}"},
        "period": {"start": "2026-02-03T09:00:00Z", "end": "2026-02-03T11:00:00Z"},
    }


def report(p: Person) -> dict[str, Any]:
    data = base64.b64encode(f"{p.family} {p.mrn}".encode()).decode()
    return {
        "resourceType": "DiagnosticReport",
        "id": f"rep-{p.given}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "58410-2"}], "text": p.family},
        "subject": {"reference": f"Patient/pat-{p.mrn}"},
        "result": [{"reference": f"Observation/obs-{p.family}-0"}],
        "conclusion": f"{p.given} is fine",
        "presentedForm": [{"contentType": "text/plain", "data": data, "title": p.email}],
    }


def bundle_of(p: Person, observations: int) -> dict[str, Any]:
    resources = [patient(p), encounter(p), condition(p), report(p)]
    resources += [observation(p, n, absolute=n % 2 == 1) for n in range(observations)]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"{BASE}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources
        ],
    }


def strings(value: Any) -> list[str]:
    """Every string of a JSON document, keys included."""
    out: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            out.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            out.append(item)
    return out


def references(value: Any) -> list[str]:
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("reference"), str):
                found.append(item["reference"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


VOCABULARY = _vocabulary()


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # a pseudonym is a hash: the same examples every run, never a lucky one
    suppress_health_check=[HealthCheck.too_slow],
)
@given(person=people, observations=st.integers(1, 3), key=st.binary(min_size=16, max_size=32))
def test_no_piece_of_an_identifier_survives(person: Person, observations: int, key: bytes) -> None:
    def pseudonym(reference: str) -> str:
        return hmac.new(key, reference.encode(), hashlib.sha256).hexdigest()[:32]

    source = bundle_of(person, observations)
    out = deidentify_bundle(source, pseudonym, 2026)
    needles = person.needles()
    hits = [(s, n) for s in strings(out) for n in needles if n in s.lower()]
    assert hits == []
    # Still useful and still linked: every clinical resource stays, every reference resolves.
    assert out["total"] == len(out["entry"]) == 4 + observations  # the report's form goes, not it
    urls = {e["fullUrl"] for e in out["entry"]}
    for entry in out["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == f"{BASE}/{resource['resourceType']}/{resource['id']}"
    for reference in references(out):
        assert f"{BASE}/{reference}" in urls, reference
    assert_valid_r4(out)
