"""Governance entries, member.add, member.update, member.remove and policy.set: bodies, rules,
declarations, and the quorum they all need.

Every governance entry needs signatures from a quorum of the *current active* members under the
rule in state. The submitter's own signature counts; an endorsement by a non-member, an inactive
member, a retired key, or an org that already counted is ignored; an endorsement that names an
unknown key or does not verify is a forgery attempt and makes the entry invalid (BAD_ENDORSEMENT).
A member being removed is outside the electorate: under ALL, an unreachable member could otherwise
never be removed. A removal that would leave the rule unmeetable (fewer members than k-of-n's k, or
none) is QUORUM_UNREACHABLE: the consortium could never decide anything again.
"""

from __future__ import annotations

import copy
from typing import Any

from msgspec import UNSET, UnsetType

from ledger.ids import OrgId
from ledger.state import governance as gov
from ledger.state import membership as mem
from ledger.state import namespaces as ns
from ledger.statekv import StateChange
from ledger.validation import fields as f
from ledger.validation.codes import ValidationCode as C
from ledger.validation.context import Ctx, reject
from ledger.validation.members import CaChain, EncryptionKeys, Member, Quorum, SigningKey
from ledger.validation.spec import EntryTypeSpec


class MemberAddBody(f.Body):
    member: Member

    def check(self) -> None:
        self.member.check()


class MemberUpdateBody(f.Body):
    """Changes to a member: at least one of the optional fields."""

    org: f.Org
    endpoint: f.Url | UnsetType = UNSET
    add_signing_key: SigningKey | UnsetType = UNSET
    retire_kid: f.Kid | UnsetType = UNSET
    encryption_keys: EncryptionKeys | UnsetType = UNSET
    ca_chain: CaChain | UnsetType = UNSET
    compromised: bool | UnsetType = UNSET
    """With ``retire_kid``: the key may be in other hands, so gateways grant it no overlap."""

    def check(self) -> None:
        changes: tuple[object, ...] = (self.endpoint, self.add_signing_key, self.retire_kid)
        changes += (self.encryption_keys, self.ca_chain)
        if all(isinstance(change, UnsetType) for change in changes):
            f.bad("member.update changes nothing")
        if not isinstance(self.endpoint, UnsetType):
            f.endpoint(self.endpoint)
        if not isinstance(self.add_signing_key, UnsetType):
            self.add_signing_key.check()
            if self.add_signing_key.kid == self.retire_kid:
                f.bad("a key cannot be added and retired at once")
        if not isinstance(self.encryption_keys, UnsetType):
            f.checked(self.encryption_keys, "encryption_keys")
        if not isinstance(self.ca_chain, UnsetType):
            f.der_b64url(self.ca_chain, "ca_chain")
        if not isinstance(self.compromised, UnsetType) and isinstance(self.retire_kid, UnsetType):
            f.bad("compromised is given only with retire_kid")


class MemberRemoveBody(f.Body):
    org: f.Org


class PolicySetBody(f.Body):
    """A new consortium policy version, and optionally a new quorum rule."""

    version: f.Code
    digest: f.Hex64
    quorum: Quorum | UnsetType = UNSET

    def check(self) -> None:
        if not isinstance(self.quorum, UnsetType):
            self.quorum.check()


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
        _retire(record, body["retire_kid"], ctx.entry.ts, ctx.index)
        if body.get("compromised") is True:
            _mark_compromised(record, body["retire_kid"])
    check_quorum(ctx)
    return mem.store_member(record)


def _retire(record: dict[str, Any], kid: str, ts: int, index: int) -> None:
    """Mark ``kid`` retired: from the next entry on it signs nothing (the key row stays).

    ``retired_ts`` is the retiring entry's own ts (ms), never a clock, and ``retired_index`` its
    log position: gateways accept peer assertions under the retired key until the ts of the block
    that committed it (found by that position) plus their overlap (docs/key-rotation.md)."""
    match = [k for k in record["signing_keys"] if k["kid"] == kid]
    if not match:
        reject(C.NOT_FOUND, f"{kid} is not a signing key of {record['org']}")
    if match[0]["status"] != mem.ACTIVE:
        reject(C.ALREADY_REVOKED, f"{kid} is already retired")
    match[0]["status"] = mem.RETIRED
    match[0]["retired_ts"] = ts
    match[0]["retired_index"] = index
    if not any(k["status"] == mem.ACTIVE for k in record["signing_keys"]):
        reject(C.BAD_BODY, f"retiring {kid} would leave {record['org']} no signing key")


def _mark_compromised(record: dict[str, Any], kid: str) -> None:
    for key in record["signing_keys"]:
        if key["kid"] == kid:
            key["compromised"] = True


def member_remove(ctx: Ctx) -> list[StateChange]:
    record = _target(ctx)
    if record["status"] != mem.ACTIVE:
        reject(C.ALREADY_REVOKED, f"member {record['org']} is already removed")
    remaining = len(mem.active_members(ctx.state)) - 1
    rule = gov.quorum(ctx.state)
    if rule is None or rule.required(remaining) is None:
        reject(
            C.QUORUM_UNREACHABLE, f"{remaining} members would remain: the quorum rule needs more"
        )
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


_MEMBERSHIP = (ns.MEMBERS, ns.KEYS)
TYPES = (
    EntryTypeSpec("member.add", MemberAddBody, member_add, _MEMBERSHIP, mem.member, True),
    EntryTypeSpec("member.update", MemberUpdateBody, member_update, _MEMBERSHIP, mem.member, True),
    EntryTypeSpec("member.remove", MemberRemoveBody, member_remove, _MEMBERSHIP, mem.member, True),
    EntryTypeSpec(
        "policy.set", PolicySetBody, policy_set, (ns.POLICY, ns.QUORUM), gov.policy, True
    ),
)
