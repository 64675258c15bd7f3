"""Steps the end-to-end tests share: seed a patient at a custodian, ask through the requester."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.identity.pseudonym import ledger_id, load_patient_key, patient_ref
from tests.e2e import records
from tests.e2e.gateways import Gateway


@dataclass(frozen=True)
class Seeded:
    national_id: str
    patient_id: str
    """The Patient's id at the custodian it was seeded at."""


def seed(custodian: Gateway, *, claims: int = 3, family: str = "Quarrington") -> Seeded:
    """A new patient with ``claims`` Claims, two Observations and a Condition at ``custodian``."""
    headers = custodian.auth()
    national_id = f"NID-{secrets.token_hex(6)}"
    pid = custodian.create(records.patient(national_id, family, "Josephine"), headers)
    for n in range(claims):
        custodian.create(records.claim(pid, n), headers)
    custodian.create(records.observation(pid, 71), headers)
    custodian.create(records.observation(pid, 88), headers)
    custodian.create(records.condition(pid), headers)
    return Seeded(national_id, pid)


def seed_more(custodian: Gateway, national_id: str, claims: int) -> str:
    """The same patient (same national id) at another custodian, with claims there."""
    headers = custodian.auth()
    pid = custodian.create(records.patient(national_id, "Quarrington", "Josephine"), headers)
    for n in range(claims):
        custodian.create(records.claim(pid, n), headers)
    return pid


def ask(
    requester: Gateway,
    custodian: str,
    national_id: str,
    purpose: str,
    types: list[str],
    **extra: Any,
) -> httpx.Response:
    body = {
        "custodian": custodian,
        "patient": {"system": records.NATIONAL_ID, "value": national_id},
        "purpose": purpose,
        "resource_types": types,
        **extra,
    }
    return requester.http.post("/outbound/query", json=body, headers=requester.auth())


def types_of(bundle: dict[str, Any]) -> list[str]:
    return sorted(e["resource"]["resourceType"] for e in bundle.get("entry", []))


def patient_ref_at(custodian: Gateway, national_id: str) -> str:
    """The patient's pseudonymous ref under the consortium key (as every member computes it)."""
    key = load_patient_key((custodian.folder / "keys" / "patient.key").read_bytes())
    return patient_ref(key, records.NATIONAL_ID, national_id)


def ledger_consent_id(custodian: Gateway, consent_id: str) -> str:
    """The opaque id the ledger knows ``custodian``'s Consent ``consent_id`` by."""
    key = load_patient_key((custodian.folder / "keys" / "patient.key").read_bytes())
    return ledger_id(key, custodian.org, "Consent", consent_id)
