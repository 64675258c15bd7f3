"""A small consortium for tests: founders with real P-256 keys, entry builders, and a chain that
validates entries one by one (or block by block) into a MemoryState with the real two phases."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ledger.entries import make_tx, nonce_from_bytes, sign_entry
from ledger.genesis import build_genesis, member_record
from ledger.ids import OrgId
from ledger.signing import generate_signing_key, kid_of
from ledger.state.membership import key_resolver
from ledger.statekv import MemoryState, Overlay, StateChange
from ledger.validation.apply import Mapper, Validated, validate_block
from ledger.validation.codes import ValidationCode

HOSPITAL = OrgId("hospital-a")
INSURER = OrgId("insurer-b")
AGENCY = OrgId("agency-c")
POLICY_DIGEST = "a" * 64


def pref(name: str) -> str:
    """A well-formed patient pseudonym (43 base64url characters)."""
    return hashlib.sha256(name.encode()).hexdigest()[:43]


def digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


P1 = pref("patient-1")


def consent_body(consent_id: str = "c1", **override: Any) -> dict[str, Any]:
    body = {
        "consent_id": consent_id,
        "patient_ref": P1,
        "grantee": {"org": INSURER},
        "purposes": ["HPAYMT"],
        "resource_types": ["Claim", "Coverage"],
        "period": {"start": 1, "end": 2_000_000_000_000},
        "consent_digest": digest(consent_id),
    }
    body.update(override)
    return body


def grant_body(grant_id: str = "g1", **override: Any) -> dict[str, Any]:
    body = {
        "grant_id": grant_id,
        "grantee": INSURER,
        "resource_types": ["Claim"],
        "purposes": ["HPAYMT"],
        "expires": 1_800_000_000_000,
    }
    body.update(override)
    return body


def access_body(**override: Any) -> dict[str, Any]:
    body = {
        "requester": INSURER,
        "requester_role": "insurer",
        "custodian": HOSPITAL,
        "patient_ref": P1,
        "purpose": "HPAYMT",
        "resource_types": ["Claim"],
        "decision": "permit",
        "basis": [],
        "policy_version": "v1",
        "obligations": ["audit"],
        "break_glass": False,
        "envelope_digest": digest("envelope"),
        "decision_digest": digest("decision"),
    }
    body.update(override)
    return body


@dataclass
class World:
    """Org keys and a counter for nonces and timestamps, so that every built entry is distinct."""

    keys: dict[OrgId, ec.EllipticCurvePrivateKey] = field(default_factory=dict)
    roles: dict[OrgId, str] = field(default_factory=dict)
    counter: int = 0

    def add_org(self, org: OrgId, role: str) -> ec.EllipticCurvePrivateKey:
        self.keys[org] = generate_signing_key()
        self.roles[org] = role
        return self.keys[org]

    def record(self, org: OrgId, key: ec.EllipticCurvePrivateKey | None = None) -> dict[str, Any]:
        public = (key or self.keys[org]).public_key()
        return member_record(org, self.roles[org], org.title(), f"https://{org}.test", [public])

    def rotation(
        self, org: OrgId, new: ec.EllipticCurvePrivateKey, *, compromised: bool = False
    ) -> dict[str, Any]:
        """The ``member.update`` body that adds ``new`` to ``org`` and retires its genesis key."""
        body: dict[str, Any] = {
            "org": org,
            "add_signing_key": self.record(org, key=new)["signing_keys"][0],
            "retire_kid": kid_of(self.keys[org].public_key()),
        }
        if compromised:
            body["compromised"] = True
        return body

    def next(self) -> tuple[int, str]:
        self.counter += 1
        return 1_700_000_000_000 + self.counter, nonce_from_bytes(self.counter.to_bytes(16, "big"))

    def genesis(self, quorum: Mapping[str, Any] | None = None) -> bytes:
        ts, nonce = self.next()
        members = [self.record(org) for org in self.keys]
        policy = {"version": "v1", "digest": POLICY_DIGEST}
        return build_genesis(
            "test", members, quorum or {"rule": "MAJORITY"}, policy, ts, nonce, self.keys
        )

    def tx(self, type: str, org: OrgId, body: Mapping[str, Any], **kw: Any) -> dict[str, Any]:
        ts, nonce = self.next()
        key = kw.get("key") or self.keys[org]
        return make_tx(
            type,
            org,
            kw.get("kid") or kid_of(key.public_key()),
            kw.get("ts", ts),
            kw.get("nonce", nonce),
            body,
        )

    def entry(
        self,
        type: str,
        org: OrgId,
        body: Mapping[str, Any],
        endorsers: Sequence[OrgId] = (),
        **kw: Any,
    ) -> bytes:
        """A signed leaf from ``org`` (its current key unless ``key=``), endorsed by ``endorsers``."""
        key = kw.pop("key", None) or self.keys[org]
        tx = self.tx(type, org, body, key=key, **kw)
        return sign_entry(tx, key, {e: self.keys[e] for e in endorsers})


def three_orgs(quorum: Mapping[str, Any] | None = None) -> tuple[World, Chain]:
    world = World()
    world.add_org(HOSPITAL, "hospital")
    world.add_org(INSURER, "insurer")
    world.add_org(AGENCY, "agency")
    chain = Chain()
    assert chain.submit(world.genesis(quorum)) == ValidationCode.VALID
    return world, chain


@dataclass
class Chain:
    """The log and its state; ``submit`` runs one entry as its own block."""

    state: MemoryState = field(default_factory=MemoryState)
    leaves: list[bytes] = field(default_factory=list)
    codes: list[ValidationCode] = field(default_factory=list)
    last_changes: list[StateChange] = field(default_factory=list)
    """The state changes of the last block."""

    def block(self, leaves: Sequence[bytes], mapper: Mapper = map) -> list[Validated]:
        overlay = Overlay(self.state)
        keys = key_resolver(self.state)
        out = validate_block(leaves, len(self.leaves), overlay, keys, mapper)
        self.last_changes = overlay.changes()
        self.state.apply(self.last_changes)
        self.leaves.extend(leaves)
        self.codes.extend(v.code for v in out)
        return out

    def submit(self, leaf: bytes) -> ValidationCode:
        return self.block([leaf])[0].code

    def rows(self) -> dict[tuple[str, str], bytes]:
        return dict(self.state.rows)
