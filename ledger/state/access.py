"""Access records (releases and denials) and erasure records in state: readers and writers.

The patient's audit trail is ``access_for_patient``: every recorded access to their data, in log
order, each with the tx id and index that an inclusion proof is given for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger.ids import Digest, OrgId, PatientRef, TxId
from ledger.state import namespaces as ns
from ledger.statekv import StateChange, StateReader


@dataclass(frozen=True, slots=True)
class AccessRecord:
    tx_id: TxId
    index: int
    ts: int
    requester: OrgId
    requester_role: str
    custodian: OrgId
    patient_ref: PatientRef
    purpose: str
    resource_types: tuple[str, ...]
    decision: str
    """``permit`` or ``deny``."""
    basis: tuple[str, ...]
    policy_version: str
    obligations: tuple[str, ...]
    break_glass: bool
    envelope_digest: Digest | None
    decision_digest: Digest
    reason: str | None


@dataclass(frozen=True, slots=True)
class Erasure:
    custodian: OrgId
    record_digest: Digest
    patient_ref: PatientRef
    reason: str
    index: int
    ts: int
    tx_id: TxId


def _record_of(row: Mapping[str, Any]) -> AccessRecord:
    return AccessRecord(
        tx_id=TxId(row["tx_id"]),
        index=row["index"],
        ts=row["ts"],
        requester=OrgId(row["requester"]),
        requester_role=row["requester_role"],
        custodian=OrgId(row["custodian"]),
        patient_ref=PatientRef(row["patient_ref"]),
        purpose=row["purpose"],
        resource_types=tuple(row["resource_types"]),
        decision=row["decision"],
        basis=tuple(row["basis"]),
        policy_version=row["policy_version"],
        obligations=tuple(row["obligations"]),
        break_glass=row["break_glass"],
        envelope_digest=row.get("envelope_digest"),
        decision_digest=Digest(row["decision_digest"]),
        reason=row.get("reason"),
    )


def _by_index(reader: StateReader, index_ns: str, prefix: str) -> list[AccessRecord]:
    out: list[AccessRecord] = []
    for key, _ in reader.scan(index_ns, f"{prefix}/"):
        row = ns.read(reader, ns.ACCESS, ns.index_of_key(key))
        if row is not None:
            out.append(_record_of(row))
    return out


def access_for_patient(reader: StateReader, patient_ref: str) -> list[AccessRecord]:
    """Every access recorded for the patient, in log order."""
    return _by_index(reader, ns.ACCESS_BY_PATIENT, patient_ref)


def access_by_requester(reader: StateReader, requester: str) -> list[AccessRecord]:
    """Every access ``requester`` asked for (permitted or denied), in log order."""
    return _by_index(reader, ns.ACCESS_BY_REQUESTER, requester)


def store_access(row: Mapping[str, Any]) -> list[StateChange]:
    """Requires ``row`` = the body of a decoded leaf plus tx_id, index and ts (so ``put_parsed``
    may skip the type walk: one access record per release makes this the busiest writer)."""
    index = row["index"]
    ref = ns.tx_ref(row["tx_id"])
    return [
        ns.put_parsed(ns.ACCESS, ns.index_key(index), row),
        StateChange(ns.ACCESS_BY_PATIENT, ns.by_index_key(row["patient_ref"], index), ref),
        StateChange(ns.ACCESS_BY_REQUESTER, ns.by_index_key(row["requester"], index), ref),
    ]


def erasure_key(custodian: str, record_digest: str) -> str:
    return f"{custodian}/{record_digest}"


def erasure(reader: StateReader, custodian: str, record_digest: str) -> Erasure | None:
    row = ns.read(reader, ns.ERASURES, erasure_key(custodian, record_digest))
    if row is None:
        return None
    return Erasure(
        OrgId(custodian),
        Digest(record_digest),
        PatientRef(row["patient_ref"]),
        row["reason"],
        row["index"],
        row["ts"],
        TxId(row["tx_id"]),
    )


def store_erasure(custodian: str, record_digest: str, row: Mapping[str, Any]) -> StateChange:
    return ns.put(ns.ERASURES, erasure_key(custodian, record_digest), row)
