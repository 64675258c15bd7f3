"""The consortium's identity, quorum rule and policy version in state; what a quorum requires."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.ids import ConsortiumId, Digest
from ledger.state import namespaces as ns
from ledger.statekv import StateChange, StateReader

RULE_ALL = "ALL"
RULE_MAJORITY = "MAJORITY"
RULE_K_OF_N = "K_OF_N"
RULES = frozenset({RULE_ALL, RULE_MAJORITY, RULE_K_OF_N})


@dataclass(frozen=True, slots=True)
class Consortium:
    id: ConsortiumId
    name: str
    genesis_ts: int


@dataclass(frozen=True, slots=True)
class Quorum:
    """``ALL`` active members, a strict ``MAJORITY`` of them, or ``K_OF_N`` (``k`` of them)."""

    rule: str
    k: int | None = None

    def required(self, electorate: int) -> int | None:
        """How many distinct signers of an electorate of ``electorate`` active members are needed,
        or None when the rule cannot be met (an empty electorate, or k above its size)."""
        if electorate <= 0:
            return None
        if self.rule == RULE_ALL:
            return electorate
        if self.rule == RULE_MAJORITY:
            return electorate // 2 + 1
        if self.k is None or self.k > electorate:
            return None
        return self.k

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule} if self.k is None else {"rule": self.rule, "k": self.k}


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    digest: Digest
    index: int
    """Log index of the entry that set it (0 for genesis)."""


def consortium(reader: StateReader) -> Consortium | None:
    row = ns.read(reader, ns.CONSORTIUM, ns.CURRENT)
    if row is None:
        return None
    return Consortium(ConsortiumId(row["id"]), row["name"], row["genesis_ts"])


def quorum(reader: StateReader) -> Quorum | None:
    """The quorum rule in force; None before genesis."""
    row = ns.read(reader, ns.QUORUM, ns.CURRENT)
    return None if row is None else quorum_of(row)


def quorum_of(value: dict[str, Any]) -> Quorum:
    """Requires a value validated by the body schema."""
    return Quorum(value["rule"], value.get("k"))


def policy(reader: StateReader) -> Policy | None:
    """The consortium policy in force; None before genesis."""
    row = ns.read(reader, ns.POLICY, ns.CURRENT)
    if row is None:
        return None
    return Policy(row["version"], Digest(row["digest"]), row["index"])


def store_consortium(value: Consortium) -> StateChange:
    row = {"id": value.id, "name": value.name, "genesis_ts": value.genesis_ts}
    return ns.put(ns.CONSORTIUM, ns.CURRENT, row)


def store_quorum(value: Quorum) -> StateChange:
    return ns.put(ns.QUORUM, ns.CURRENT, value.to_json())


def store_policy(value: Policy) -> StateChange:
    row = {"version": value.version, "digest": value.digest, "index": value.index}
    return ns.put(ns.POLICY, ns.CURRENT, row)
