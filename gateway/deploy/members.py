"""The consortium's members as the genesis names them: their orgs and organisation CAs."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ledger.entries import decode_entry


@dataclass(frozen=True, slots=True)
class Founder:
    org: str
    endpoint: str
    ca_der: bytes
    """``ca_chain[0]`` of its member record: its organisation CA."""


@dataclass(frozen=True, slots=True)
class Consortium:
    founders: tuple[Founder, ...]

    @property
    def orgs(self) -> tuple[str, ...]:
        return tuple(f.org for f in self.founders)

    def member(self, org: str) -> Founder:
        for founder in self.founders:
            if founder.org == org:
                return founder
        raise ValueError(f"{org} is not a founding member of this genesis")

    def ca_bundle_pem(self) -> bytes:
        """Every member's organisation CA, PEM, in genesis order (what NATS servers trust)."""
        return b"".join(
            x509.load_der_x509_certificate(f.ca_der).public_bytes(Encoding.PEM)
            for f in self.founders
        )


def read_consortium(genesis_leaf: bytes) -> Consortium:
    """The founders of the genesis entry ``genesis_leaf``. Members added later by governance are
    not in it: re-render every member's kit (their NATS CA bundle) when one joins."""
    body = decode_entry(genesis_leaf).body
    founders = []
    for record in body["members"]:
        chain = record["ca_chain"]
        if not chain:
            raise ValueError(f"member {record['org']} has no CA on record")
        der = base64.urlsafe_b64decode(chain[0] + "=" * (-len(chain[0]) % 4))
        founders.append(Founder(record["org"], record["endpoint"], der))
    return Consortium(tuple(founders))
