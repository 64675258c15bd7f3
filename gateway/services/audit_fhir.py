"""The patient's access log as FHIR R4 AuditEvent resources, IHE BALP style, in a searchset Bundle.

One AuditEvent per ``access.record``: type ``rest`` (a peer's query: the consortium exchanges over
FHIR REST), subtype ``search``, action ``E`` (a query executes), the requester and the custodian as
agents, the custodian's gateway as source, the patient (by pseudonym) and the query as entities.
A denial is outcome ``4`` (minor failure: the request was refused, nothing released). The ledger
evidence (tx_id, log index, proof status, tree size and root) rides in the ``ledger-proof``
extension; the proof hashes themselves are in the JSON view (``/patient/audit``). Pure.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from gateway.services.patient_audit import AuditEntry, PatientAudit

ORG_SYSTEM = "urn:medgate:org"
PATIENT_REF_SYSTEM = "urn:medgate:patient-ref"
PROOF_EXTENSION = "https://medgate.dev/fhir/StructureDefinition/ledger-proof"
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
_SUBTYPE = {"system": "http://hl7.org/fhir/restful-interaction", "code": "search"}
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
_DCM = "http://dicom.nema.org/resources/ontology/DCM"


def base64_binary(data: bytes) -> str:
    """FHIR base64Binary: standard alphabet, padded (not the ledger's base64url)."""
    return base64.b64encode(data).decode("ascii")


def instant(ms: int) -> str:
    """Epoch milliseconds as a FHIR instant in UTC."""
    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _org(org: str) -> dict[str, Any]:
    return {"identifier": {"system": ORG_SYSTEM, "value": org}, "display": org}


def _agent(org: str, role_code: str, role_display: str, requestor: bool) -> dict[str, Any]:
    return {
        "type": {"coding": [{"system": _DCM, "code": role_code, "display": role_display}]},
        "who": _org(org),
        "requestor": requestor,
    }


def _proof_extension(entry: AuditEntry, audit: PatientAudit) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"url": "tx_id", "valueString": entry.record.tx_id},
        {"url": "log_index", "valueInteger": entry.record.index},
        {"url": "status", "valueCode": entry.status},
    ]
    if entry.proof is not None and audit.checkpoint is not None:
        cp = audit.checkpoint.cp
        parts += [
            {"url": "tree_size", "valueInteger": cp.tree_size},
            {"url": "tree_root", "valueString": cp.tree_root},
            {"url": "checkpoint_height", "valueInteger": cp.height},
        ]
    return {"url": PROOF_EXTENSION, "extension": parts}


def _entities(entry: AuditEntry) -> list[dict[str, Any]]:
    r = entry.record
    query = {"purpose": r.purpose, "resource_types": list(r.resource_types)}
    details = [
        {"type": "resource_types", "valueString": ",".join(r.resource_types)},
        {"type": "decision", "valueString": r.decision},
        {"type": "basis", "valueString": ",".join(r.basis) or "-"},
        {"type": "obligations", "valueString": ",".join(r.obligations) or "-"},
        {"type": "break_glass", "valueString": "true" if r.break_glass else "false"},
        {"type": "tx_id", "valueString": r.tx_id},
        {"type": "ledger_leaf", "valueBase64Binary": base64_binary(entry.leaf)},
    ]
    return [
        {
            "what": {"identifier": {"system": PATIENT_REF_SYSTEM, "value": r.patient_ref}},
            "type": {"system": _ENTITY_TYPE, "code": "1", "display": "Person"},
            "role": {"system": _OBJECT_ROLE, "code": "1", "display": "Patient"},
        },
        {
            "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
            "role": {"system": _OBJECT_ROLE, "code": "24", "display": "Query"},
            "query": base64_binary(json.dumps(query, sort_keys=True).encode()),
            "detail": details,
        },
    ]


def audit_event(entry: AuditEntry, audit: PatientAudit) -> dict[str, Any]:
    """The AuditEvent of one access (its id is the entry's tx_id)."""
    r = entry.record
    permitted = r.decision == "permit"
    purpose = {"coding": [{"system": PURPOSE_SYSTEM, "code": r.purpose}]}
    return {
        "resourceType": "AuditEvent",
        "id": r.tx_id,
        "extension": [_proof_extension(entry, audit)],
        "type": _TYPE,
        "subtype": [_SUBTYPE],
        "action": "E",
        "recorded": instant(r.ts),
        "outcome": "0" if permitted else "4",
        "outcomeDesc": "released" if permitted else "denied: nothing released",
        "purposeOfEvent": [purpose],
        "agent": [
            {**_agent(r.requester, "110153", "Source Role ID", True), "purposeOfUse": [purpose]},
            _agent(r.custodian, "110152", "Destination Role ID", False),
        ],
        "source": {
            "site": r.custodian,
            "observer": _org(r.custodian),
            "type": [{"system": _SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
        "entity": _entities(entry),
    }


def audit_bundle(audit: PatientAudit) -> dict[str, Any]:
    """A searchset Bundle of the patient's AuditEvents, in log order."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(audit.entries),
        "entry": [
            {
                "fullUrl": f"urn:medgate:audit:{e.record.tx_id}",
                "resource": audit_event(e, audit),
                "search": {"mode": "match"},
            }
            for e in audit.entries
        ],
    }
