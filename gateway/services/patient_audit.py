"""The patient's access log: every recorded access across all members, each with its RFC 9162
inclusion proof against the final (quorum-cosigned) checkpoint.

Every member's ledger holds every ``access.record``, so any member's gateway can answer for the whole
consortium. Proofs are given only against the final checkpoint: a proof against this gateway's own
head would prove inclusion in a tree nobody else vouched for. Entries newer than the final
checkpoint are listed as ``pending`` without a proof. Synchronous (it reads the store): call it from
a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.crypto import b64
from ledger.checkpoint import CosignedCheckpoint
from ledger.ids import NodeId, PatientRef
from ledger.merkle import inclusion_proof, leaf_hash
from ledger.state import AccessRecord, access_for_patient
from ledger.storage.base import StoredEntry
from policies import NOTIFY_PATIENT

PROVEN = "proven"
PENDING = "pending"


class AuditStore(Protocol):
    """What the audit reads of a ledger store (ledger.storage.sql.SqlStore satisfies it)."""

    def get(self, ns: str, key: str) -> bytes | None: ...

    def scan(self, ns: str, prefix: str = "") -> Iterator[tuple[str, bytes]]: ...

    def entries(self, first: int, count: int) -> list[StoredEntry]: ...

    def nodes(self, ids: Sequence[NodeId]) -> list[bytes]: ...


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One access with its leaf and, once a final checkpoint covers it, its inclusion proof."""

    record: AccessRecord
    leaf: bytes
    proof: tuple[bytes, ...] | None

    @property
    def status(self) -> str:
        return PENDING if self.proof is None else PROVEN

    def to_json(self, tree_size: int | None, root: str | None) -> dict[str, Any]:
        r = self.record
        out: dict[str, Any] = {
            "tx_id": r.tx_id,
            "index": r.index,
            "ts": r.ts,
            "requester": {"org": r.requester, "role": r.requester_role},
            "custodian": r.custodian,
            "resource_types": list(r.resource_types),
            "purpose": r.purpose,
            "decision": r.decision,
            "basis": list(r.basis),
            "obligations": list(r.obligations),
            "notify_patient": NOTIFY_PATIENT.code in r.obligations,  # the ledger holds codes
            "break_glass": r.break_glass,
            "reason": r.reason,
            "policy_version": r.policy_version,
            "decision_digest": r.decision_digest,
            "envelope_digest": r.envelope_digest,
            "leaf": b64.encode_str(self.leaf),
            "leaf_hash": leaf_hash(self.leaf).hex(),
            "status": self.status,
            "proof": None,
        }
        if self.proof is not None:
            out["proof"] = {
                "leaf_index": r.index,
                "tree_size": tree_size,
                "root": root,
                "hashes": [h.hex() for h in self.proof],
            }
        return out


@dataclass(frozen=True, slots=True)
class PatientAudit:
    patient_ref: PatientRef
    checkpoint: CosignedCheckpoint | None
    entries: tuple[AuditEntry, ...]

    @property
    def pending(self) -> int:
        return sum(1 for e in self.entries if e.proof is None)

    def to_json(self) -> dict[str, Any]:
        cp = self.checkpoint
        size = None if cp is None else cp.cp.tree_size
        root = None if cp is None else cp.cp.tree_root
        return {
            "patient_ref": self.patient_ref,
            "checkpoint": None if cp is None else cp.to_json(),
            "entries": [e.to_json(size, root) for e in self.entries],
            "pending": self.pending,
            "note": "proofs are RFC 9162 inclusion proofs (SHA-256, leaf 0x00, node 0x01) of "
            "each leaf against the tree_root of the quorum-cosigned checkpoint",
        }


def patient_audit(
    store: AuditStore, patient_ref: PatientRef, final: CosignedCheckpoint | None
) -> PatientAudit:
    """The patient's access log. Requires ``final`` to be a checkpoint of ``store``'s own chain
    (its tree is a prefix of the stored log), or None when no checkpoint is final yet."""
    size = 0 if final is None else final.cp.tree_size
    entries: list[AuditEntry] = []
    for record in access_for_patient(store, patient_ref):
        stored = store.entries(record.index, 1)
        if not stored:
            continue  # state names an entry the log lacks: never expected; list nothing unproven
        proof = None
        if record.index < size:
            proof = tuple(inclusion_proof(record.index, size, store.nodes))
        entries.append(AuditEntry(record, stored[0].leaf, proof))
    return PatientAudit(patient_ref, final, tuple(entries))
