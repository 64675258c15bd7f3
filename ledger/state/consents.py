"""Patients' consents in state: typed readers by id and by patient, and the writer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger.ids import Digest, OrgId, PatientRef, TxId
from ledger.state import namespaces as ns
from ledger.statekv import StateChange, StateReader

ACTIVE = "active"
REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Consent:
    """A consent's terms as recorded by its custodian; the full FHIR Consent stays with the
    custodian (``consent_digest`` pins it)."""

    consent_id: str
    patient_ref: PatientRef
    custodian: OrgId
    grantee_org: OrgId | None
    grantee_role: str | None
    purposes: tuple[str, ...]
    resource_types: tuple[str, ...]
    period_start: int | None
    period_end: int | None
    consent_digest: Digest
    status: str
    index: int
    """Log index of the ``consent.grant``."""
    ts: int
    tx_id: TxId
    revoked_index: int | None

    def in_force(self, at_ms: int) -> bool:
        """Active and within its period at ``at_ms`` (the caller's clock: state has none)."""
        if self.status != ACTIVE:
            return False
        if self.period_start is not None and at_ms < self.period_start:
            return False
        return self.period_end is None or at_ms <= self.period_end


def _consent_of(row: Mapping[str, Any]) -> Consent:
    grantee, period = row["grantee"], row["period"]
    return Consent(
        consent_id=row["consent_id"],
        patient_ref=PatientRef(row["patient_ref"]),
        custodian=OrgId(row["custodian"]),
        grantee_org=grantee.get("org"),
        grantee_role=grantee.get("role"),
        purposes=tuple(row["purposes"]),
        resource_types=tuple(row["resource_types"]),
        period_start=period.get("start"),
        period_end=period.get("end"),
        consent_digest=Digest(row["consent_digest"]),
        status=row["status"],
        index=row["index"],
        ts=row["ts"],
        tx_id=TxId(row["tx_id"]),
        revoked_index=row["revoked_index"],
    )


def consent_row(reader: StateReader, consent_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = ns.read(reader, ns.CONSENTS, consent_id)
    return row


def consent(reader: StateReader, consent_id: str) -> Consent | None:
    row = consent_row(reader, consent_id)
    return None if row is None else _consent_of(row)


def consents_for_patient(reader: StateReader, patient_ref: str) -> list[Consent]:
    """Every consent recorded for the patient, active or revoked, by consent id."""
    rows = ns.rows_by_index(reader, ns.CONSENTS_BY_PATIENT, patient_ref, ns.CONSENTS)
    return [_consent_of(row) for row in rows]


def store_consent(row: Mapping[str, Any]) -> list[StateChange]:
    """The consent row and its by-patient index row (rewritten unchanged on revocation)."""
    return ns.put_indexed(
        ns.CONSENTS, row["consent_id"], row, ns.CONSENTS_BY_PATIENT, row["patient_ref"]
    )
