"""Typed identifiers and digests shared across the ledger (NewType: zero cost, checked by mypy)."""

from typing import NewType

import msgspec

OrgId = NewType("OrgId", str)
"""A member organisation's id, e.g. ``hospital-a``: lowercase letters, digits and dashes."""

Kid = NewType("Kid", str)
"""A key id: base64url SHA-256 thumbprint of the public key (RFC 7638 style)."""

TxId = NewType("TxId", str)
"""Lowercase hex SHA-256 of the canonical transaction (without signature or endorsements)."""

Digest = NewType("Digest", str)
"""Lowercase hex SHA-256 of something: block hashes, tree roots, policy and envelope digests."""

PatientRef = NewType("PatientRef", str)
"""base64url HMAC-SHA256 pseudonym of a patient identifier (ARCHITECTURE.md section 3)."""

ConsortiumId = NewType("ConsortiumId", str)
"""The consortium's id: the tx_id of its genesis transaction."""


class NodeId(msgspec.Struct, frozen=True, order=True, gc=False):
    """The root of the full Merkle subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``.

    A frozen msgspec struct rather than a frozen dataclass, like the other values made per ledger
    entry (``ledger.statekv.StateChange`` says why)."""

    level: int
    index: int
