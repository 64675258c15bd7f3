"""Rules of organisation-to-organisation grants: grant.issue and grant.revoke.

Any active member may grant access to data it holds (the grantor is the submitter) to another
*active* member, until an expiry later than the entry's own timestamp; only the grantor revokes.
"""

from __future__ import annotations

from ledger.state import grants as gr
from ledger.state import membership as mem
from ledger.statekv import StateChange
from ledger.validation.codes import ValidationCode as C
from ledger.validation.context import Ctx, reject


def grant_issue(ctx: Ctx) -> list[StateChange]:
    body = ctx.entry.body
    if body["grantee"] == ctx.entry.org:
        reject(C.BAD_BODY, "an org does not grant to itself")
    # The entry's own ts, never a clock: validation must replay identically on every gateway.
    if body["expires"] <= ctx.entry.ts:
        reject(C.BAD_BODY, "the grant expires before it is issued")
    grantee = mem.member(ctx.state, body["grantee"])
    if grantee is None:
        reject(C.NOT_FOUND, f"grantee {body['grantee']} is not a member")
    if not grantee.is_active:
        reject(C.MEMBER_INACTIVE, f"grantee {body['grantee']} is not active")
    if gr.grant_row(ctx.state, body["grant_id"]) is not None:
        reject(C.ALREADY_EXISTS, f"grant {body['grant_id']} exists")
    row = {
        **body,
        "grantor": ctx.entry.org,
        "status": gr.ACTIVE,
        "index": ctx.index,
        "ts": ctx.entry.ts,
        "tx_id": ctx.entry.tx_id,
        "revoked_index": None,
    }
    return gr.store_grant(row)


def grant_revoke(ctx: Ctx) -> list[StateChange]:
    grant_id = ctx.entry.body["grant_id"]
    row = gr.grant_row(ctx.state, grant_id)
    if row is None:
        reject(C.NOT_FOUND, f"no grant {grant_id}")
    if row["grantor"] != ctx.entry.org:
        reject(C.NOT_OWNER, f"grant {grant_id} was issued by {row['grantor']}")
    if row["status"] != gr.ACTIVE:
        reject(C.ALREADY_REVOKED, f"grant {grant_id} is already revoked")
    return gr.store_grant({**row, "status": gr.REVOKED, "revoked_index": ctx.index})
