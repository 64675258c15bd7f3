"""The members a kit is rendered for: orgs, endpoints and organisation CAs, from the committed
ledger state or, before the member's store holds anything, from the genesis (pure).

A kit trusts exactly these members (NATS CA bundle, NATS gateway users) and routes to their NATS
servers; its stamp records ``MemberSet.digest`` so that `medgate deploy check` can tell when the
ledger's member set has moved on.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ledger.entries import decode_entry
from ledger.state.membership import active_members
from ledger.statekv import StateReader


class Source(StrEnum):
    LEDGER = "ledger"
    """The committed state of the member's ledger store (active members only)."""
    GENESIS = "genesis"
    """The genesis' founders (the store is absent or empty: before the first start)."""


@dataclass(frozen=True, slots=True)
class KitMember:
    org: str
    endpoint: str
    ca_der: bytes
    """``ca_chain[0]`` of its member record: its organisation CA."""


@dataclass(frozen=True, slots=True)
class MemberSet:
    members: tuple[KitMember, ...]
    source: Source
    height: int | None
    """The ledger height read (None for the genesis)."""

    @property
    def orgs(self) -> tuple[str, ...]:
        return tuple(m.org for m in self.members)

    def member(self, org: str) -> KitMember:
        for one in self.members:
            if one.org == org:
                return one
        raise ValueError(f"{org} is not an active member ({self.describe()})")

    def describe(self) -> str:
        if self.source is Source.LEDGER:
            return f"members from the ledger at height {self.height}"
        return "members from the genesis (the ledger store is empty)"

    def ca_bundle_pem(self) -> bytes:
        """Every member's organisation CA, PEM, in member order (what NATS servers trust)."""
        return b"".join(
            x509.load_der_x509_certificate(m.ca_der).public_bytes(Encoding.PEM)
            for m in self.members
        )

    def digest(self) -> str:
        """SHA-256 (hex) of the sorted (org, endpoint, CA) triples: what a kit depends on. Neither
        the source nor the height is in it, so a block that changes no member keeps a kit current."""
        rows = sorted(
            (m.org, m.endpoint, hashlib.sha256(m.ca_der).hexdigest()) for m in self.members
        )
        return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def _der(org: str, chain: list[str] | tuple[str, ...]) -> bytes:
    if not chain:
        raise ValueError(f"member {org} has no CA on record")
    first = chain[0]
    return base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))


def from_genesis(genesis_leaf: bytes, newcomer: KitMember | None = None) -> MemberSet:
    """The founders of the genesis entry ``genesis_leaf``; plus ``newcomer`` (this member, admitted
    later by a ``member.add`` its empty store has not seen yet) when it is not a founder."""
    body = decode_entry(genesis_leaf).body
    found = [
        KitMember(r["org"], r["endpoint"], _der(r["org"], r["ca_chain"])) for r in body["members"]
    ]
    if newcomer is not None and newcomer.org not in {m.org for m in found}:
        found.append(newcomer)
    return MemberSet(tuple(found), Source.GENESIS, None)


def from_state(reader: StateReader, height: int) -> MemberSet:
    """The active members of committed state ``reader`` (at ledger ``height``), by org id;
    removed members are left out, so a kit neither routes to nor trusts them."""
    found = tuple(
        KitMember(m.org, m.endpoint, _der(m.org, m.ca_chain)) for m in active_members(reader)
    )
    return MemberSet(found, Source.LEDGER, height)
