"""Who may cosign checkpoints and how many must: the active members, their keys, the quorum rule.

``electorate_of`` is the one adapter from ledger state; everything else in this package takes an
Electorate, so auditors can build one from a published member list instead of a ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ledger.errors import KeyFormatError
from ledger.ids import Kid, OrgId
from ledger.signing import VerifyingKey, load_verifying_key
from ledger.state import Quorum, active_members, quorum
from ledger.statekv import StateReader


@dataclass(frozen=True, slots=True)
class Electorate:
    """``members`` maps each active member to its active signing keys by kid."""

    members: Mapping[OrgId, Mapping[Kid, VerifyingKey]]
    quorum: Quorum

    @property
    def orgs(self) -> frozenset[OrgId]:
        return frozenset(self.members)

    def key(self, org: OrgId, kid: Kid) -> VerifyingKey | None:
        """The KeyLookup of checkpoint verification."""
        return self.members.get(org, {}).get(kid)

    def required(self) -> int | None:
        """Distinct cosigners needed for finality; None when the rule cannot be met."""
        return self.quorum.required(len(self.members))


def electorate_of(reader: StateReader) -> Electorate:
    """The electorate in ``reader``'s state. Requires: state after genesis (a quorum rule is set);
    before genesis the result has no members and so can reach no quorum."""
    members: dict[OrgId, Mapping[Kid, VerifyingKey]] = {}
    for member in active_members(reader):
        keys: dict[Kid, VerifyingKey] = {}
        for key in member.signing_keys:
            if not key.is_active:
                continue
            try:
                keys[key.kid] = load_verifying_key(key.alg, key.pub)
            except KeyFormatError:
                continue  # validation admits only loadable keys; an unloadable one signs nothing
        members[member.org] = keys
    rule = quorum(reader)
    return Electorate(members, rule if rule is not None else Quorum("ALL"))
