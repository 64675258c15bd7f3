"""Rules of access and erasure records.

An access record must be accepted whenever its custodian made a decision, even if state moved
on meanwhile (a consent revoked, a requester removed, between the decision and its ordering): the
record is the audit trail the patient reads, and the data may already be released. So only what the
custodian controls and what can never change is checked: the custodian is the submitter, and every
consent or grant id in ``basis`` exists (ids are never deleted; their status is not judged here).
"""

from __future__ import annotations

from ledger.state import access as acc
from ledger.state import consents as cons
from ledger.state import grants as gr
from ledger.statekv import StateChange
from ledger.validation.codes import ValidationCode as C
from ledger.validation.context import Ctx, reject


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
