"""The genesis package: the file founders pass around during the genesis ceremony.

File format (JSON, UTF-8)::

    {"medgate_genesis_package": 1,
     "cards": [member card, ...],          the founders, in order; the first one submits
     "tx": {v, type, org, kid, alg, ts, nonce, body},   the unsigned genesis transaction
     "signatures": [{"org", "kid", "sig"}, ...],        ES256 over canonical(tx), in signing order
     "patient_key": null | {"from", "kid", "check", "envelopes": {org: envelope}}}

``tx.body.members`` is exactly the cards' member records (active), ``tx.org`` the first card's
org and ``tx.kid`` one of its signing keys. Reading a package checks all of that and every
signature in it, so a package altered after anyone signed is refused by the next reader.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gateway.identity.card import CardError, MemberCard, card_from_json
from gateway.identity.patient_share import PatientKeyShares, ShareError, shares_from_json
from ledger.canonical import canonical
from ledger.entries import Endorsement, EntryType, decode_entry, encode_entry, tx_id_of
from ledger.errors import EntryError
from ledger.ids import Kid, OrgId, TxId
from ledger.signing import load_public_key_b64, verify
from ledger.validation.genesis_rule import GenesisBody

PACKAGE_FIELD = "medgate_genesis_package"
PACKAGE_VERSION = 1


class CeremonyError(ValueError):
    """The genesis ceremony refuses a package, a card, a signer or a seal; the message says why."""


@dataclass(frozen=True, slots=True)
class Package:
    cards: tuple[MemberCard, ...]
    tx: Mapping[str, Any]
    signatures: tuple[Endorsement, ...]
    patient_key: PatientKeyShares | None

    @property
    def founders(self) -> list[str]:
        return [card.org for card in self.cards]

    @property
    def tx_id(self) -> TxId:
        """The tx digest every founder signs, and the consortium's id once sealed."""
        return tx_id_of(self.tx)

    def card(self, org: str) -> MemberCard:
        for card in self.cards:
            if card.org == org:
                return card
        raise CeremonyError(f"{org} is not a founder of this genesis ({', '.join(self.founders)})")

    def signed_by(self, org: str) -> Endorsement | None:
        return next((s for s in self.signatures if s.org == org), None)

    def with_signature(self, signature: Endorsement) -> Package:
        return replace(self, signatures=(*self.signatures, signature))

    def to_json(self) -> dict[str, Any]:
        return {
            PACKAGE_FIELD: PACKAGE_VERSION,
            "cards": [card.to_json() for card in self.cards],
            "tx": dict(self.tx),
            "signatures": [{"org": s.org, "kid": s.kid, "sig": s.sig} for s in self.signatures],
            "patient_key": None if self.patient_key is None else self.patient_key.to_json(),
        }


def package_bytes(package: Package) -> bytes:
    return (json.dumps(package.to_json(), indent=2, sort_keys=True) + "\n").encode("utf-8")


def read_package(path: Path) -> Package:
    """Read and fully check a package (see ``check_package``). Raises CeremonyError."""
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CeremonyError(f"{path}: {exc}") from exc
    return package_from_json(value)


def package_from_json(value: Any) -> Package:
    if not isinstance(value, dict) or value.get(PACKAGE_FIELD) != PACKAGE_VERSION:
        raise CeremonyError(f"not a genesis package (no {PACKAGE_FIELD}: {PACKAGE_VERSION})")
    if set(value) != {PACKAGE_FIELD, "cards", "tx", "signatures", "patient_key"}:
        raise CeremonyError("a genesis package has exactly cards, tx, signatures, patient_key")
    cards, sigs, shares = value["cards"], value["signatures"], value["patient_key"]
    if not isinstance(cards, list) or not isinstance(sigs, list):
        raise CeremonyError("cards and signatures are lists")
    try:
        parsed_cards = tuple(card_from_json(c) for c in cards)
        parsed_shares = None if shares is None else shares_from_json(shares)
    except (CardError, ShareError) as exc:
        raise CeremonyError(str(exc)) from exc
    signatures = tuple(_signature(s) for s in sigs)
    package = Package(parsed_cards, value["tx"], signatures, parsed_shares)
    check_package(package)
    return package


def _signature(value: Any) -> Endorsement:
    if not isinstance(value, dict) or set(value) != {"org", "kid", "sig"}:
        raise CeremonyError("a signature is {org, kid, sig}")
    if not all(isinstance(value[k], str) for k in ("org", "kid", "sig")):
        raise CeremonyError("a signature's org, kid and sig are strings")
    return Endorsement(OrgId(value["org"]), Kid(value["kid"]), value["sig"])


def check_package(package: Package) -> None:
    """The transaction is the genesis of exactly these cards, and every signature verifies.
    Raises CeremonyError naming the first fault."""
    check_tx(package.tx, package.cards)
    seen: set[str] = set()
    for signature in package.signatures:
        if signature.org in seen:
            raise CeremonyError(f"{signature.org} signed twice")
        seen.add(signature.org)
        check_signature(package, signature)
    shares = package.patient_key
    if shares is not None:
        if shares.sender != package.founders[0] or package.signed_by(shares.sender) is None:
            raise CeremonyError("the patient key shares must come from the first founder, signed")
        if set(shares.envelopes) != set(package.founders):
            raise CeremonyError("the patient key must be shared with every founder, exactly")


def check_tx(tx: Any, cards: tuple[MemberCard, ...]) -> None:
    if not cards:
        raise CeremonyError("a genesis needs at least one founder's card")
    if not isinstance(tx, dict):
        raise CeremonyError("tx is not an object")
    try:
        decode_entry(encode_entry(tx, ""))  # the transaction's shape, as a node would see it
        GenesisBody.judge(tx["body"])
    except EntryError as exc:
        raise CeremonyError(f"the genesis transaction would be refused: {exc}") from exc
    if tx["type"] != EntryType.GENESIS:
        raise CeremonyError(f"tx is a {tx['type']}, not a genesis")
    if tx["body"]["members"] != [card.member_record() for card in cards]:
        raise CeremonyError("the transaction's members are not exactly the founders' cards")
    first = cards[0]
    if tx["org"] != first.org or tx["kid"] not in _kids(first):
        raise CeremonyError("the transaction is not submitted by the first founder's key")


def _kids(card: MemberCard) -> set[str]:
    return {str(key["kid"]) for key in card.member["signing_keys"]}


def check_signature(package: Package, signature: Endorsement) -> None:
    """``signature`` is by a founder, with one of its card's keys, over this transaction."""
    card = package.card(signature.org)
    if signature.org == package.founders[0] and signature.kid != package.tx["kid"]:
        raise CeremonyError(f"{signature.org} submits: it signs with the tx's kid")
    keys = {str(k["kid"]): str(k["pub"]) for k in card.member["signing_keys"]}
    if signature.kid not in keys:
        raise CeremonyError(f"{signature.org}'s signature uses a key that is not on its card")
    message = canonical(package.tx)
    if not verify(load_public_key_b64(keys[signature.kid]), message, signature.sig):
        raise CeremonyError(
            f"{signature.org}'s signature does not verify: the package changed after it signed"
        )
