"""The access log as FHIR R4 AuditEvents (IHE BALP style), validated with fhir.resources R4B."""

from __future__ import annotations

from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle

from gateway.services.audit_fhir import PROOF_EXTENSION, audit_bundle
from gateway.services.patient_audit import patient_audit
from ledger.ids import PatientRef
from ledger.storage.sql import SqlStore
from tests.gateway.audit.harness import Consortium


def fhir_log(c: Consortium) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {c.patient_token()}"}
    response = httpx.get(
        f"{c.urls['hospital-a']}/patient/audit",
        params={"_format": "fhir"},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    return body


def proof_parts(event: dict[str, Any]) -> dict[str, Any]:
    (ext,) = [e for e in event["extension"] if e["url"] == PROOF_EXTENSION]
    return {
        p["url"]: next(v for k, v in p.items() if k.startswith("value")) for p in ext["extension"]
    }


def test_the_bundle_validates_as_r4_audit_events(consortium: Consortium) -> None:
    raw = fhir_log(consortium)
    bundle = Bundle.model_validate(raw)
    assert bundle.type == "searchset"
    assert bundle.total == 3
    events = [e["resource"] for e in raw["entry"]]
    assert all(e["resourceType"] == "AuditEvent" for e in events)
    assert [e["type"]["code"] for e in events] == ["rest"] * 3
    assert [e["outcome"] for e in events] == ["0", "0", "4"]


def test_each_event_names_agents_patient_purpose_and_ledger_evidence(
    consortium: Consortium,
) -> None:
    events = [e["resource"] for e in fhir_log(consortium)["entry"]]
    first = events[0]
    requester, custodian = first["agent"]
    assert requester["who"]["identifier"]["value"] == "insurer-b"
    assert requester["requestor"]
    assert custodian["who"]["identifier"]["value"] == "hospital-a"
    assert first["purposeOfEvent"][0]["coding"][0]["code"] == "HPAYMT"
    patient = first["entity"][0]["what"]["identifier"]
    assert patient["value"] == consortium.ref
    parts = proof_parts(first)
    assert parts["tx_id"] == first["id"]
    assert parts["tx_id"] in consortium.tx_ids
    assert parts["status"] == "proven"
    assert parts["tree_size"] >= parts["log_index"] + 1
    details = {d["type"]: d for d in events[1]["entity"][1]["detail"]}
    assert details["break_glass"]["valueString"] == "true"


def test_entries_beyond_the_final_checkpoint_are_pending(consortium: Consortium) -> None:
    path = consortium.root / "hospital-a" / "data" / "ledger.db"
    store = SqlStore(f"sqlite:///{path}")
    try:
        log = patient_audit(store, PatientRef(consortium.ref), None)
    finally:
        store.close()
    assert log.pending == 3
    assert all(e["status"] == "pending" and e["proof"] is None for e in log.to_json()["entries"])
    bundle = audit_bundle(log)
    Bundle.model_validate(bundle)
    statuses = [proof_parts(e["resource"])["status"] for e in bundle["entry"]]
    assert statuses == ["pending"] * 3
