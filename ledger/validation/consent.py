"""Consent entries, consent.grant and consent.revoke: their bodies, rules and declarations.

Role rule: only hospitals and insurers record patients' consent, because only custodians of patient
data collect it; agencies never do (they act under their own purposes and the consortium policy).
The custodian is the submitting org, and only it can revoke what it recorded.
"""

from __future__ import annotations

from typing import Literal

from msgspec import UNSET, UnsetType

from ledger.state import consents as cons
from ledger.state import membership as mem
from ledger.state import namespaces as ns
from ledger.statekv import StateChange
from ledger.validation import fields as f
from ledger.validation.codes import ValidationCode as C
from ledger.validation.context import Ctx, reject
from ledger.validation.spec import EntryTypeSpec

CONSENT_ROLES = frozenset({"hospital", "insurer"})

Role = Literal["hospital", "insurer", "agency"]
"""A member's role (``member.role``; a consent's grantee may name one instead of an org)."""


class Grantee(f.Body):
    """Who the consent permits: an org, a role, or both (never neither)."""

    org: f.Org | UnsetType = UNSET
    role: Role | UnsetType = UNSET


class ConsentGrantBody(f.Body):
    """A patient's consent as policy terms; the full FHIR Consent stays with the custodian."""

    consent_id: f.Ident
    patient_ref: f.PatientRef
    grantee: Grantee
    purposes: f.Codes
    resource_types: f.ResourceTypes
    period: f.Period
    consent_digest: f.Hex64

    def check(self) -> None:
        if isinstance(self.grantee.org, UnsetType) and isinstance(self.grantee.role, UnsetType):
            f.bad("grantee names neither an org nor a role")
        f.unique(self.purposes, "purposes")
        f.unique(self.resource_types, "resource_types")
        f.ordered(*self.period.ends(), "period")


class ConsentRevokeBody(f.Body):
    consent_id: f.Ident


def consent_grant(ctx: Ctx) -> list[StateChange]:
    body = ctx.entry.body
    if ctx.sender.role not in CONSENT_ROLES:
        reject(C.ROLE_FORBIDDEN, f"a {ctx.sender.role} does not record consent")
    if cons.consent_row(ctx.state, body["consent_id"]) is not None:
        reject(C.ALREADY_EXISTS, f"consent {body['consent_id']} exists")
    grantee_org = body["grantee"].get("org")
    if grantee_org is not None and mem.member_record(ctx.state, grantee_org) is None:
        reject(C.NOT_FOUND, f"grantee {grantee_org} is not a member")
    row = {
        **body,
        "custodian": ctx.entry.org,
        "status": cons.ACTIVE,
        "index": ctx.index,
        "ts": ctx.entry.ts,
        "tx_id": ctx.entry.tx_id,
        "revoked_index": None,
    }
    return cons.store_consent(row)


def consent_revoke(ctx: Ctx) -> list[StateChange]:
    consent_id = ctx.entry.body["consent_id"]
    row = cons.consent_row(ctx.state, consent_id)
    if row is None:
        reject(C.NOT_FOUND, f"no consent {consent_id}")
    if row["custodian"] != ctx.entry.org:
        reject(C.NOT_OWNER, f"consent {consent_id} was recorded by {row['custodian']}")
    if row["status"] != cons.ACTIVE:
        reject(C.ALREADY_REVOKED, f"consent {consent_id} is already revoked")
    return cons.store_consent({**row, "status": cons.REVOKED, "revoked_index": ctx.index})


TYPES = (
    EntryTypeSpec(
        "consent.grant",
        ConsentGrantBody,
        consent_grant,
        (ns.CONSENTS, ns.CONSENTS_BY_PATIENT),
        cons.consents_for_patient,
    ),
    EntryTypeSpec(
        "consent.revoke",
        ConsentRevokeBody,
        consent_revoke,
        (ns.CONSENTS, ns.CONSENTS_BY_PATIENT),
        cons.consent,
    ),
)
