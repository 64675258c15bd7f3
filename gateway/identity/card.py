"""A member card: the public half of a member, the one file it hands to the rest of the consortium.

A card holds everything the others need to admit a member (its org, role, display name, endpoint,
organisation CA and signing certificate chain, signing and encryption public keys, and the public
JWKS of the key its gateway signs tokens with) and nothing private. The same card feeds a genesis
(the founders) and a ``member.add`` proposal (a newcomer). Operators compare ``fingerprint`` out
of band (phone, letter) before they endorse: it pins every byte of the card.

File format (JSON, UTF-8)::

    {"medgate_member_card": 1,
     "member": {"org", "role", "name", "endpoint", "signing_keys", "encryption_keys", "ca_chain"},
     "token_jwks": {"keys": [...]}}

``member`` is exactly the member record the ledger registers, less its ``status``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.canonical import canonical
from ledger.errors import EntryError
from ledger.validation.members import PRIVATE_JWK, Member

CARD_VERSION = 1
CARD_FIELD = "medgate_member_card"


class CardError(ValueError):
    """A card that cannot be read, or that would not be accepted as a member record."""


@dataclass(frozen=True, slots=True)
class MemberCard:
    member: Mapping[str, Any]
    """The member record as the ledger registers it, without ``status``."""
    token_jwks: Mapping[str, Any]

    @property
    def org(self) -> str:
        return str(self.member["org"])

    @property
    def role(self) -> str:
        return str(self.member["role"])

    @property
    def endpoint(self) -> str:
        return str(self.member["endpoint"])

    def member_record(self) -> dict[str, Any]:
        """The record for a genesis or a ``member.add`` body: the card's member, active."""
        return {**json.loads(json.dumps(self.member)), "status": "active"}

    def to_json(self) -> dict[str, Any]:
        return {
            CARD_FIELD: CARD_VERSION,
            "member": dict(self.member),
            "token_jwks": dict(self.token_jwks),
        }

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the card's canonical JSON, hex: what operators read to each other."""
        return hashlib.sha256(canonical(self.to_json())).hexdigest()


def card_from_json(value: Any) -> MemberCard:
    """Check a parsed card: its version, a member record the ledger would accept, no private keys."""
    if not isinstance(value, dict) or value.get(CARD_FIELD) != CARD_VERSION:
        raise CardError(f"not a member card (no {CARD_FIELD}: {CARD_VERSION})")
    if set(value) != {CARD_FIELD, "member", "token_jwks"}:
        raise CardError("a member card has exactly the fields member and token_jwks")
    member, jwks = value["member"], value["token_jwks"]
    if not isinstance(member, dict) or "status" in member:
        raise CardError("the card's member is an object without status")
    try:
        Member.judge({**member, "status": "active"})
    except EntryError as exc:
        raise CardError(f"the card's member would be refused: {exc}") from exc
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise CardError("token_jwks is not a JWKS")
    if any(PRIVATE_JWK & set(key) for key in keys):
        raise CardError("token_jwks holds private key material")
    return MemberCard(member=member, token_jwks=jwks)


def read_card(path: Path) -> MemberCard:
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CardError(f"{path}: {exc}") from exc
    return card_from_json(value)


def card_bytes(card: MemberCard) -> bytes:
    """The file's bytes: indented for people, with the fingerprint-defining fields only."""
    return (json.dumps(card.to_json(), indent=2, sort_keys=True) + "\n").encode("utf-8")
