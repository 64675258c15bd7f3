"""Organisation-to-organisation grants, grant.issue and grant.revoke: bodies, rules, declarations.

Any active member may grant access to data it holds (the grantor is the submitter) to another
*active* member, until an expiry later than the entry's own timestamp; only the grantor revokes.
"""

from __future__ import annotations

from ledger.state import grants as gr
from ledger.state import membership as mem
from ledger.state import namespaces as ns
from ledger.statekv import StateChange
from ledger.validation import fields as f
from ledger.validation.codes import ValidationCode as C
from ledger.validation.context import Ctx, reject
from ledger.validation.spec import EntryTypeSpec


class GrantIssueBody(f.Body):
    grant_id: f.Ident
    grantee: f.Org
    resource_types: f.ResourceTypes
    purposes: f.Codes
    expires: f.Ms

    def check(self) -> None:
        f.unique(self.resource_types, "resource_types")
        f.unique(self.purposes, "purposes")


class GrantRevokeBody(f.Body):
    grant_id: f.Ident


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


TYPES = (
    EntryTypeSpec(
        "grant.issue", GrantIssueBody, grant_issue, (ns.GRANTS, ns.GRANTS_BY_GRANTEE), gr.grants_for
    ),
    EntryTypeSpec(
        "grant.revoke", GrantRevokeBody, grant_revoke, (ns.GRANTS, ns.GRANTS_BY_GRANTEE), gr.grant
    ),
)
