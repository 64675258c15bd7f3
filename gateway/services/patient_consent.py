"""Consent by the patient: a grant from the portal becomes a FHIR Consent written to this
custodian's FHIR store through the same path as the EHR's (validation, evidence archive,
gateway.services.consent_sync), so it is the same ``consent.grant`` on the ledger; a revoke
writes the same Consent back with status ``inactive``, which records ``consent.revoke``.

The patient is known only by the ``patient_ref`` of their session; the Consent names the local
Patient that ref indexes (gateway.services.patients). A patient revokes only a Consent written at
this custodian for one of their own Patient records, found through the evidence archive (every
version written is archived under the patient's ref). Synchronous: call from a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from gateway.errors import BadRequestError, NotFoundError
from gateway.fhir.service import FhirService
from gateway.services import vocabulary as words
from gateway.store.evidence import EvidenceArchive, latest_by_consent
from ledger.state import Consent, consents_for_patient, member
from ledger.statekv import StateReader

CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class ConsentForm:
    """What the patient chose: a member, purposes, resource kinds and a period (UTC days, both
    included: a FHIR date as a period end covers that whole day)."""

    grantee: str
    purposes: tuple[str, ...]
    resource_types: tuple[str, ...]
    start: date
    end: date


def consent_document(patient_id: str, form: ConsentForm, today: date) -> dict[str, Any]:
    """The FHIR R4 Consent of ``form`` for local Patient ``patient_id``: an opt-in permit whose
    provision names one member, the purposes, the resource types and the period."""
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": today.isoformat(),
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "period": {"start": form.start.isoformat(), "end": form.end.isoformat()},
            "actor": [
                {
                    "role": {"coding": [{"system": PARTICIPATION, "code": "IRCP"}]},
                    "reference": {"reference": f"Organization/{form.grantee}"},
                }
            ],
            "purpose": [{"system": ACT_REASON, "code": p} for p in form.purposes],
            "class": [{"system": RESOURCE_TYPES, "code": t} for t in form.resource_types],
        },
    }


def check_form(form: ConsentForm, store: StateReader, own_org: str) -> None:
    """Refuse what the ledger could not carry, with a message the patient can act on (400)."""
    found = member(store, form.grantee)
    if found is None or not found.is_active or form.grantee == own_org:
        raise BadRequestError("choose a current member of the consortium other than this one")
    unknown = [p for p in form.purposes if p not in words.PURPOSES]
    if unknown:
        raise BadRequestError(f"unknown purpose of use: {', '.join(unknown)}")
    kinds = [t for t in form.resource_types if t not in words.RESOURCE_KINDS or t == "*"]
    if kinds:
        raise BadRequestError(f"unknown kind of record: {', '.join(kinds)}")
    if form.end < form.start:
        raise BadRequestError("the period must not end before it starts")


class PatientConsents:
    """Grant, list and revoke one custodian's consents on behalf of patients."""

    def __init__(
        self,
        fhir: FhirService,
        ledger_store: StateReader,
        local_ids: Callable[[str], Sequence[str]],
        ledger_id_of: Callable[[str], str],
        own_org: str,
    ) -> None:
        self._fhir = fhir
        self._ledger = ledger_store
        self._local_ids = local_ids
        self._ledger_id = ledger_id_of
        self._org = own_org
        self._archive = EvidenceArchive(fhir.store.engine)

    def grant(self, patient_ref: str, form: ConsentForm, today: date) -> str:
        """Write the Consent (recorded on the ledger before this returns); its ledger id.
        Raises NotFoundError when this custodian holds no record of the patient."""
        check_form(form, self._ledger, self._org)
        patient_id = self._patient_id(patient_ref)
        doc = consent_document(patient_id, form, today)
        written = self._fhir.create("Consent", orjson.dumps(doc))
        return self._ledger_id(written.resource.id)

    def revoke(self, patient_ref: str, consent_id: str) -> None:
        """Write the patient's Consent ``consent_id`` (ledger id) back as inactive. NotFoundError
        when it is not a Consent of this patient at this custodian."""
        latest = latest_by_consent(self._archive.for_patient(patient_ref))
        found = latest.get(consent_id)
        if found is None:
            raise NotFoundError("no such consent of yours at this hospital")
        current = self._fhir.read("Consent", str(orjson.loads(found.body)["id"]))
        doc = orjson.loads(current.body)
        if doc.get("status") != "active":
            raise NotFoundError("this consent is not in force: nothing to revoke")
        body = doc | {"status": INACTIVE}
        self._fhir.update("Consent", current.id, orjson.dumps(body), None)

    def listing(self, patient_ref: str, now_ms: int) -> list[dict[str, Any]]:
        """Every consent of the patient on the ledger (any custodian), newest first, in words."""
        mine = set(latest_by_consent(self._archive.for_patient(patient_ref)))
        consents = sorted(consents_for_patient(self._ledger, patient_ref), key=lambda c: -c.index)
        return [self._row(c, now_ms, c.consent_id in mine) for c in consents]

    def _row(self, c: Consent, now_ms: int, here: bool) -> dict[str, Any]:
        grantee = c.grantee_org or c.grantee_role or "?"
        named = member(self._ledger, c.grantee_org) if c.grantee_org else None
        return {
            "consent_id": c.consent_id,
            "custodian": c.custodian,
            "grantee": {
                "org": c.grantee_org,
                "role": c.grantee_role,
                "name": named.name if named else f"every {grantee}",
            },
            "purposes": list(c.purposes),
            "purposes_text": [words.purpose_words(p) for p in c.purposes],
            "resource_types": list(c.resource_types),
            "resource_text": words.kinds_words(c.resource_types),
            "period": {"start": c.period_start, "end": c.period_end},
            "status": c.status,
            "in_force": c.in_force(now_ms),
            "revocable": here and c.status == "active" and c.custodian == self._org,
        }

    def _patient_id(self, patient_ref: str) -> str:
        ids = self._local_ids(patient_ref)
        if not ids:
            raise NotFoundError("this hospital holds no record of you")
        return ids[0]
