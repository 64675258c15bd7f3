"""Members with real P-256 keys, electorates and checkpoints for the checkpoint tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from ledger.checkpoint import Checkpoint, Electorate, SignedCheckpoint, sign_checkpoint
from ledger.ids import ConsortiumId, Digest, Kid, OrgId
from ledger.signing import Es256Key, VerifyingKey, generate_signing_key, kid_of
from ledger.state import Quorum

CONSORTIUM = ConsortiumId(hashlib.sha256(b"consortium").hexdigest())
A, B, C, D = OrgId("hospital-a"), OrgId("insurer-b"), OrgId("agency-c"), OrgId("lab-d")


def digest(label: str) -> Digest:
    return Digest(hashlib.sha256(label.encode()).hexdigest())


def cp(height: int, fork: str = "main", consortium: ConsortiumId = CONSORTIUM) -> Checkpoint:
    """The checkpoint at ``height`` of the chain named ``fork``."""
    return Checkpoint(
        consortium, height, digest(f"{fork} block {height}"), height + 1, digest(f"{fork} {height}")
    )


@dataclass
class Members:
    keys: dict[OrgId, ec.EllipticCurvePrivateKey] = field(default_factory=dict)

    @classmethod
    def of(cls, orgs: Iterable[OrgId]) -> Members:
        return cls({org: generate_signing_key() for org in orgs})

    def electorate(
        self, rule: str = "MAJORITY", k: int | None = None, orgs: Iterable[OrgId] | None = None
    ) -> Electorate:
        chosen = list(self.keys) if orgs is None else list(orgs)
        members: dict[OrgId, dict[Kid, VerifyingKey]] = {
            org: {kid_of(self.keys[org].public_key()): Es256Key(self.keys[org].public_key())}
            for org in chosen
        }
        return Electorate(members, Quorum(rule, k))

    def sign(self, org: OrgId, checkpoint: Checkpoint) -> SignedCheckpoint:
        return sign_checkpoint(checkpoint, org, self.keys[org])
