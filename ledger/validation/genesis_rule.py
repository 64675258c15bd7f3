"""The genesis entry: its body, its rule (first in the log, signed by every founder), its declaration.

Nothing is in state yet, so the founders' keys come from the body itself: the submitter must be a
founder signing with one of its keys, and every other founder must endorse with one of its keys.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

from msgspec import Meta

from ledger.entries import EntryType, SignedEntry
from ledger.ids import ConsortiumId, Kid, OrgId
from ledger.state import governance as gov
from ledger.state import membership as mem
from ledger.state import namespaces as ns
from ledger.statekv import StateChange
from ledger.validation import fields as f
from ledger.validation.codes import ValidationCode as C
from ledger.validation.context import reject, verify_inline
from ledger.validation.members import Member, Policy, Quorum
from ledger.validation.spec import EntryTypeSpec


class GenesisBody(f.Body):
    """A new consortium: its name, its founders, its quorum rule and its first policy."""

    name: f.Name
    members: Annotated[list[Member], Meta(min_length=1, max_length=64)]
    quorum: Quorum
    policy: Policy

    def check(self) -> None:
        f.printable(self.name, "name")
        f.checked(self.members, "members")
        f.unique_values([m.org for m in self.members], "members' orgs")
        f.unique_values([k.kid for m in self.members for k in m.signing_keys], "signing kids")
        self.quorum.check()
        if isinstance(self.quorum.k, int) and self.quorum.k > len(self.members):
            f.bad("quorum.k exceeds the number of founders")


def check_position(entry: SignedEntry, index: int) -> None:
    """Genesis is exactly index 0: anything else there, or a genesis elsewhere, is misplaced."""
    if (index == 0) != (entry.type == EntryType.GENESIS):
        reject(C.GENESIS_MISPLACED, f"{entry.type} at index {index}")


def _founder_key(founders: dict[OrgId, dict[str, Any]], org: OrgId, kid: Kid) -> mem.SigningKey:
    record = founders[org]
    for key in record["signing_keys"]:
        if key["kid"] == kid:
            return mem.SigningKey(kid, org, key["pub"], key["alg"], mem.ACTIVE)
    reject(C.UNKNOWN_KEY, f"{kid} is not a genesis key of {org}")


def _check_signatures(entry: SignedEntry, founders: dict[OrgId, dict[str, Any]]) -> None:
    if entry.org not in founders:
        reject(C.UNKNOWN_MEMBER, f"{entry.org} is not a founder")
    key = _founder_key(founders, entry.org, entry.kid)
    if key.alg != entry.alg or not verify_inline(key, entry.message, entry.sig):
        reject(C.BAD_SIGNATURE, "the submitter's signature does not verify")
    signed = {entry.org}
    for position, endorsement in enumerate(entry.endorsements):
        if endorsement.org not in founders:
            reject(C.BAD_ENDORSEMENT, f"endorsement {position}: {endorsement.org} is no founder")
        record = founders[endorsement.org]
        kids = {k["kid"] for k in record["signing_keys"]}
        if endorsement.kid not in kids:
            reject(C.BAD_ENDORSEMENT, f"endorsement {position}: not a key of {endorsement.org}")
        end_key = _founder_key(founders, endorsement.org, endorsement.kid)
        if not verify_inline(end_key, entry.message, endorsement.sig):
            reject(C.BAD_ENDORSEMENT, f"endorsement {position}: signature does not verify")
        signed.add(endorsement.org)
    missing = sorted(set(founders) - signed)
    if missing:
        reject(C.QUORUM_NOT_MET, f"founders who did not sign: {missing}")


def apply_genesis(entry: SignedEntry, index: int) -> list[StateChange]:
    """State of a new consortium. Requires ``entry`` passed phase 1 (its body schema holds)."""
    check_position(entry, index)
    body = entry.body
    founders = {OrgId(m["org"]): copy.deepcopy(dict(m)) for m in body["members"]}
    _check_signatures(entry, founders)
    changes = [
        gov.store_consortium(gov.Consortium(ConsortiumId(entry.tx_id), body["name"], entry.ts)),
        gov.store_quorum(gov.quorum_of(dict(body["quorum"]))),
        gov.store_policy(gov.Policy(body["policy"]["version"], body["policy"]["digest"], index)),
    ]
    for record in founders.values():
        for key in record["signing_keys"]:
            key["status"] = mem.ACTIVE
        changes.extend(mem.store_member(record))
    return changes


TYPES = (
    EntryTypeSpec(
        "consortium.genesis",
        GenesisBody,
        None,
        (ns.CONSORTIUM, ns.QUORUM, ns.POLICY, ns.MEMBERS, ns.KEYS),
        gov.consortium,
        endorsed=True,
    ),
)
