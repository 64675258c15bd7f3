"""Rules of governance entries: member.add, member.update, member.remove, policy.set, and quorum.

Every governance entry needs signatures from a quorum of the *current active* members under the
rule in state. The submitter's own signature counts; an endorsement by a non-member, an inactive
member, a retired key, or an org that already counted is ignored; an endorsement that names an
unknown key or does not verify is a forgery attempt and makes the entry invalid (BAD_ENDORSEMENT).
A member being removed is outside the electorate: under ALL, an unreachable member could otherwise
never be removed.
"""

from __future__ import annotations

import copy
from typing import Any

from ledger.ids import OrgId
from ledger.state import governance as gov
from ledger.state import membership as mem
from ledger.statekv import StateChange
from ledger.validation.codes import ValidationCode as C
from ledger.validation.context import Ctx, reject


def check_quorum(ctx: Ctx, exclude: OrgId | None = None) -> None:
    """Raises QUORUM_NOT_MET or BAD_ENDORSEMENT unless enough distinct active members signed."""
    rule = gov.quorum(ctx.state)
    electorate = {m.org: m for m in mem.active_members(ctx.state) if m.org != exclude}
    signers: set[OrgId] = {ctx.sender.org} if ctx.sender.org in electorate else set()
    for position, endorsement in enumerate(ctx.entry.endorsements):
        if endorsement.org not in electorate or endorsement.org in signers:
            continue
        key = mem.signing_key(ctx.state, endorsement.kid)
        if key is None or key.org != endorsement.org:
            reject(C.BAD_ENDORSEMENT, f"endorsement {position}: not a key of {endorsement.org}")
        if not key.is_active:
            continue
        if not ctx.endorsement_ok(position, key):
            reject(C.BAD_ENDORSEMENT, f"endorsement {position}: signature does not verify")
        signers.add(endorsement.org)
    needed = None if rule is None else rule.required(len(electorate))
    if needed is None or len(signers) < needed:
        reject(C.QUORUM_NOT_MET, f"{len(signers)} of {len(electorate)} signed, need {needed}")


def _new_kids_unused(ctx: Ctx, keys: list[dict[str, Any]]) -> None:
    for key in keys:
        if mem.signing_key(ctx.state, key["kid"]) is not None:
            reject(C.ALREADY_EXISTS, f"key {key['kid']} is already registered")


def member_add(ctx: Ctx) -> list[StateChange]:
    record: dict[str, Any] = copy.deepcopy(dict(ctx.entry.body["member"]))
    if mem.member_record(ctx.state, record["org"]) is not None:
        reject(C.ALREADY_EXISTS, f"member {record['org']} exists")
    _new_kids_unused(ctx, record["signing_keys"])
    check_quorum(ctx)
    for key in record["signing_keys"]:
        key["status"] = mem.ACTIVE
    return mem.store_member(record)


def _target(ctx: Ctx) -> dict[str, Any]:
    record = mem.member_record(ctx.state, ctx.entry.body["org"])
    if record is None:
        reject(C.NOT_FOUND, f"no member {ctx.entry.body['org']}")
    return record


def member_update(ctx: Ctx) -> list[StateChange]:
    body = ctx.entry.body
    record = _target(ctx)
    if record["status"] != mem.ACTIVE:
        reject(C.MEMBER_INACTIVE, f"member {record['org']} is not active")
    for field in ("endpoint", "encryption_keys", "ca_chain"):
        if field in body:
            record[field] = copy.deepcopy(body[field])
    if "add_signing_key" in body:
        _new_kids_unused(ctx, [body["add_signing_key"]])
        record["signing_keys"].append({**body["add_signing_key"], "status": mem.ACTIVE})
    if "retire_kid" in body:
        _retire(record, body["retire_kid"])
    check_quorum(ctx)
    return mem.store_member(record)


def _retire(record: dict[str, Any], kid: str) -> None:
    """Mark ``kid`` retired: from the next entry on it signs nothing (the key row stays)."""
    match = [k for k in record["signing_keys"] if k["kid"] == kid]
    if not match:
        reject(C.NOT_FOUND, f"{kid} is not a signing key of {record['org']}")
    if match[0]["status"] != mem.ACTIVE:
        reject(C.ALREADY_REVOKED, f"{kid} is already retired")
    match[0]["status"] = mem.RETIRED
    if not any(k["status"] == mem.ACTIVE for k in record["signing_keys"]):
        reject(C.BAD_BODY, f"retiring {kid} would leave {record['org']} no signing key")


def member_remove(ctx: Ctx) -> list[StateChange]:
    record = _target(ctx)
    if record["status"] != mem.ACTIVE:
        reject(C.ALREADY_REVOKED, f"member {record['org']} is already removed")
    check_quorum(ctx, exclude=OrgId(record["org"]))
    record["status"] = mem.REMOVED
    return mem.store_member(record)


def policy_set(ctx: Ctx) -> list[StateChange]:
    body = ctx.entry.body
    current = gov.policy(ctx.state)
    if current is not None and current.version == body["version"]:
        reject(C.ALREADY_EXISTS, f"policy version {body['version']} is already in force")
    changes = [gov.store_policy(gov.Policy(body["version"], body["digest"], ctx.index))]
    if "quorum" in body:
        new_rule = gov.quorum_of(dict(body["quorum"]))
        if new_rule.required(len(mem.active_members(ctx.state))) is None:
            reject(C.BAD_BODY, "the new quorum rule could never be met")
        changes.append(gov.store_quorum(new_rule))
    check_quorum(ctx)
    return changes
