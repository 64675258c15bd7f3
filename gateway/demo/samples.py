"""Synthetic ledger entries for the demo, the benchmarks and load tests (never real patient data)."""

from __future__ import annotations

import hashlib


def access_body(
    requester: str, custodian: str, patient_ref: str, n: int, *, decision: str = "permit"
) -> dict[str, object]:
    """An ``access.record`` body for request number ``n`` (an insurer's HPAYMT claim query)."""
    return {
        "requester": requester,
        "requester_role": "insurer",
        "custodian": custodian,
        "patient_ref": patient_ref,
        "purpose": "HPAYMT",
        "resource_types": ["Claim"],
        "decision": decision,
        "basis": [],
        "policy_version": "1",
        "obligations": ["audit"],
        "break_glass": False,
        "decision_digest": hashlib.sha256(f"decision-{n}".encode()).hexdigest(),
    }
