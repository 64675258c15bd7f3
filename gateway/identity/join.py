"""A member installs the sealed genesis (``medgate member join``): its share of the patient key,
the genesis file and the consortium id in its config, after checking them all; and a joined
member hands the patient key over to a member admitted later (``medgate member share-key``).

The shares file written by ``consortium seal`` (JSON, public: every share is encrypted)::

    {"medgate_patient_key_shares": 1, "consortium": id,
     "patient_key": {"from", "kid", "check", "envelopes": {org: envelope}}}

Every check runs before the first write, and nothing is ever overwritten with different bytes:
joining twice with the same material is a no-op, joining another consortium is refused.
"""

from __future__ import annotations

import base64
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.crypto.errors import EnvelopeError
from gateway.crypto.keys import read_jwk
from gateway.identity.card import MemberCard
from gateway.identity.ceremony import open_patient_key
from gateway.identity.files import load_private_key, write_private, write_public
from gateway.identity.genesis_package import CeremonyError
from gateway.identity.member_config import MemberConfig, read_member_config, set_consortium
from gateway.identity.patient_share import (
    PatientKeyShares,
    ShareError,
    share_patient_key,
    shares_from_json,
)
from gateway.identity.pseudonym import load_patient_key
from ledger.blockbuild import genesis_block
from ledger.entries import decode_entry
from ledger.errors import EntryError, GenesisError
from ledger.genesis import consortium_id
from ledger.signing import kid_of
from ledger.state.membership import key_resolver
from ledger.statekv import MemoryState

SHARES_FIELD = "medgate_patient_key_shares"
SHARES_VERSION = 1


def shares_path(genesis: Path) -> Path:
    """Where ``consortium seal`` puts the shares by default: ``genesis.json`` ->
    ``genesis.patient-key-shares.json`` beside it."""
    return genesis.with_name(f"{genesis.stem}.patient-key-shares.json")


def shares_file_bytes(consortium: str, shares: PatientKeyShares) -> bytes:
    value = {
        SHARES_FIELD: SHARES_VERSION,
        "consortium": consortium,
        "patient_key": shares.to_json(),
    }
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _read_shares(raw: bytes, consortium: str) -> PatientKeyShares:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise CeremonyError(f"the patient-key shares file is not JSON: {exc}") from exc
    if not isinstance(value, dict) or value.get(SHARES_FIELD) != SHARES_VERSION:
        raise CeremonyError(f"not a patient-key shares file (no {SHARES_FIELD}: 1)")
    if value.get("consortium") != consortium:
        raise CeremonyError("the patient-key shares belong to another consortium's genesis")
    try:
        return shares_from_json(value.get("patient_key"))
    except ShareError as exc:
        raise CeremonyError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class Joined:
    org: str
    consortium: str
    check: str
    """The patient key's check value: every founder reads the same one out of band."""


def checked_genesis(leaf: bytes) -> tuple[str, dict[str, dict[str, Any]], str]:
    """``(consortium id, founders' records by org, submitting org)`` of a genesis the ledger
    accepts. Raises CeremonyError."""
    try:
        genesis_block(leaf, key_resolver(MemoryState()))
        entry = decode_entry(leaf)
    except (GenesisError, EntryError) as exc:
        raise CeremonyError(f"not a valid genesis: {exc}") from exc
    founders = {str(m["org"]): dict(m) for m in entry.body["members"]}
    return consortium_id(leaf), founders, entry.org


def join(
    config_path: Path, leaf: bytes, shares_raw: bytes, sender_card: MemberCard | None = None
) -> Joined:
    """Install ``leaf`` and this member's patient key into the member at ``config_path``.

    The share must come from a founder (checked against its genesis key) or from the member whose
    card is ``sender_card`` (a member admitted later hands the key over: ``share-key``). A founder
    must hold its genesis signing key; a member admitted later is judged by the ledger
    (``member.add``), not here. Raises CeremonyError (or MemberConfigError) before writing
    anything when a check fails."""
    config = read_member_config(config_path)
    consortium, founders, _ = checked_genesis(leaf)
    if config.consortium and config.consortium != consortium:
        raise CeremonyError(f"{config_path} already belongs to consortium {config.consortium}")
    try:
        signing = load_private_key(config.signing_key)
        encryption = read_jwk(config.encryption_key)
    except (OSError, ValueError, EnvelopeError) as exc:
        raise CeremonyError(f"{config.org}'s own keys cannot be read: {exc}") from exc
    record = founders.get(config.org)
    if record is not None and kid_of(signing.public_key()) not in {
        k["kid"] for k in record["signing_keys"]
    }:
        raise CeremonyError(f"{config_path}'s signing key is not {config.org}'s genesis key")
    shares = _read_shares(shares_raw, consortium)
    sender = _sender_record(shares, founders, sender_card)
    patient_key = open_patient_key(shares, config.org, encryption, sender, consortium)
    _install(config, consortium, leaf, patient_key)
    return Joined(config.org, consortium, shares.check)


def _sender_record(
    shares: PatientKeyShares, founders: dict[str, dict[str, Any]], card: MemberCard | None
) -> dict[str, Any]:
    if card is not None:
        if card.org != shares.sender:
            raise CeremonyError(f"the share comes from {shares.sender}, not from {card.org}")
        return card.member_record()
    if shares.sender not in founders:
        raise CeremonyError(
            f"the share comes from {shares.sender}, not a founder: give its card (--sender-card)"
        )
    return founders[shares.sender]


def _install(config: MemberConfig, consortium: str, leaf: bytes, patient_key: bytes) -> None:
    """Write the key, the genesis and the consortium id: each only if absent or identical."""
    key_text = base64.urlsafe_b64encode(patient_key).rstrip(b"=")
    _check_same(config.patient_key, key_text, secret=True)
    _check_same(config.genesis, leaf, secret=False)
    if not config.patient_key.exists():
        write_private(config.patient_key, key_text)
    if not config.genesis.exists():
        write_public(config.genesis, leaf)
    if config.consortium != consortium:
        set_consortium(config, consortium)


def hand_over(config_path: Path, card: MemberCard) -> bytes:
    """A shares file with one envelope: this (joined) member's patient key sealed to ``card``'s
    encryption key and signed with this member's signing key, for ``card``'s ``member join
    --sender-card``. Raises CeremonyError when this member has no key to hand over."""
    config = read_member_config(config_path)
    if not config.consortium:
        raise CeremonyError(f"{config.org} has not joined a consortium: no patient key to share")
    try:
        patient_key = load_patient_key(config.patient_key.read_bytes())
        signing = load_private_key(config.signing_key)
        shares = share_patient_key(patient_key, config.consortium, config.org, signing, [card])
    except (OSError, ValueError) as exc:
        raise CeremonyError(f"{config.org} cannot hand over the patient key: {exc}") from exc
    return shares_file_bytes(config.consortium, shares)


def _check_same(path: Path, data: bytes, *, secret: bool) -> None:
    """Refuse when ``path`` holds something else (a key or genesis of another consortium)."""
    if not path.exists():
        return
    held = path.read_bytes().strip() if secret else path.read_bytes()
    if not hmac.compare_digest(held, data):
        raise CeremonyError(f"{path} exists with other content: refusing to overwrite it")
