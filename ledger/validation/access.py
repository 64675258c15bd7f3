"""Access and erasure records: their bodies, their rules, their declarations.

An access record must be accepted whenever its custodian made a decision, even if state moved
on meanwhile (a consent revoked, a requester removed, between the decision and its ordering): the
record is the audit trail the patient reads, and the data may already be released. So only what the
custodian controls and what can never change is checked: the custodian is the submitter, and every
consent or grant id in ``basis`` exists (ids are never deleted; their status is not judged here).
"""

from __future__ import annotations

from typing import Literal

from msgspec import UNSET, UnsetType

from ledger.state import access as acc
from ledger.state import consents as cons
from ledger.state import grants as gr
from ledger.state import namespaces as ns
from ledger.statekv import StateChange
from ledger.validation import fields as f
from ledger.validation.codes import ValidationCode as C
from ledger.validation.context import Ctx, reject
from ledger.validation.spec import EntryTypeSpec


class AccessRecordBody(f.Body):
    """One release or denial. The optional request fields (requested types, consent_ref, data
    period, security labels, break-glass start) are what a replay of the decision needs."""

    requester: f.Org
    requester_role: f.Code
    custodian: f.Org
    patient_ref: f.PatientRef
    purpose: f.Code
    resource_types: f.ResourceTypes
    decision: Literal["permit", "deny"]
    basis: f.Idents0
    policy_version: f.Code
    obligations: f.Codes0
    break_glass: bool
    decision_digest: f.Hex64
    envelope_digest: f.Hex64 | UnsetType = UNSET
    reason: f.Code | UnsetType = UNSET
    requested_types: f.ResourceTypes | UnsetType = UNSET
    consent_ref: f.Ident | UnsetType = UNSET
    data_period: f.Period | UnsetType = UNSET
    security_labels: f.Codes0 | UnsetType = UNSET
    break_glass_started: f.Ms | UnsetType = UNSET

    def check(self) -> None:
        f.unique(self.resource_types, "resource_types")
        f.unique(self.basis, "basis")
        f.unique(self.obligations, "obligations")
        if not isinstance(self.requested_types, UnsetType):
            f.unique(self.requested_types, "requested_types")
        if not isinstance(self.data_period, UnsetType):
            f.ordered(*self.data_period.ends(), "data_period")
        if not isinstance(self.security_labels, UnsetType):
            f.unique(self.security_labels, "security_labels")
        if not isinstance(self.break_glass_started, UnsetType) and self.break_glass is not True:
            f.bad("break_glass_started is given only with break_glass")


class ErasureRecordBody(f.Body):
    """The custodian destroyed a record's data key; the record's digest remains as evidence."""

    record_digest: f.Hex64
    patient_ref: f.PatientRef
    reason: f.Code


def access_record(ctx: Ctx) -> list[StateChange]:
    body = ctx.entry.body
    if body["custodian"] != ctx.entry.org:
        reject(C.NOT_OWNER, "an access record is submitted by its custodian")
    for ref in body["basis"]:
        if cons.consent_row(ctx.state, ref) is None and gr.grant_row(ctx.state, ref) is None:
            reject(C.NOT_FOUND, f"basis {ref} is neither a consent nor a grant")
    row = {**body, "tx_id": ctx.entry.tx_id, "index": ctx.index, "ts": ctx.entry.ts}
    return acc.store_access(row)


def erasure_record(ctx: Ctx) -> list[StateChange]:
    body = ctx.entry.body
    custodian, digest = ctx.entry.org, body["record_digest"]
    if acc.erasure(ctx.state, custodian, digest) is not None:
        reject(C.ALREADY_EXISTS, f"record {digest} is already erased")
    row = {
        "patient_ref": body["patient_ref"],
        "reason": body["reason"],
        "index": ctx.index,
        "ts": ctx.entry.ts,
        "tx_id": ctx.entry.tx_id,
    }
    return [acc.store_erasure(custodian, digest, row)]


TYPES = (
    EntryTypeSpec(
        "access.record",
        AccessRecordBody,
        access_record,
        (ns.ACCESS, ns.ACCESS_BY_PATIENT, ns.ACCESS_BY_REQUESTER),
        acc.access_for_patient,
    ),
    EntryTypeSpec("erasure.record", ErasureRecordBody, erasure_record, (ns.ERASURES,), acc.erasure),
)
