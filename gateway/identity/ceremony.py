"""The genesis ceremony's three steps: assemble a package from cards, sign it (one founder, its own
key), seal it into the genesis leaf and the founders' patient-key shares.

Nobody ever holds another founder's private key: assembling needs only public cards, each founder
signs with its own signing key (and opens only its own patient-key share), and sealing needs
nothing private at all. The first founder submits the genesis (its signature is the leaf's
``sig``), every other founder endorses (``endorsements``, in card order): exactly the leaf
``ledger.entries.sign_entry`` makes, checked by the ledger's own genesis rule before it is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.crypto.keys import public_jwk
from gateway.identity.card import MemberCard
from gateway.identity.genesis_package import (
    CeremonyError,
    Package,
    check_package,
    check_tx,
)
from gateway.identity.patient_share import (
    PatientKeyShares,
    ShareError,
    open_share,
    share_patient_key,
)
from ledger.blockbuild import genesis_block
from ledger.entries import EntryType, encode_entry, endorse, make_tx
from ledger.errors import GenesisError
from ledger.ids import Kid, OrgId
from ledger.signing import kid_of
from ledger.state.membership import key_resolver
from ledger.statekv import MemoryState

_K_OF_N = re.compile(r"^(\d+)(?:-of-|:|/)(\d+)$")


def parse_quorum(text: str, founders: int) -> dict[str, Any]:
    """``ALL``, ``MAJORITY``, or k of n as ``K-of-N``, ``K:N`` or ``K/N`` (n must be the number of
    founders) as the ledger's quorum rule. Raises CeremonyError."""
    rule = text.strip().upper()
    if rule in ("ALL", "MAJORITY"):
        return {"rule": rule}
    found = _K_OF_N.match(text.strip().lower())
    if found is None:
        raise CeremonyError(f"quorum {text!r}: ALL, MAJORITY or K-of-N (e.g. 2-of-3)")
    k, n = int(found.group(1)), int(found.group(2))
    if n != founders:
        raise CeremonyError(f"quorum {text!r}: N must be the number of founders ({founders})")
    if not 1 <= k <= n:
        raise CeremonyError(f"quorum {text!r}: K must be between 1 and N")
    return {"rule": "K_OF_N", "k": k}


def assemble(
    cards: Sequence[MemberCard],
    name: str,
    quorum: Mapping[str, Any],
    policy: Mapping[str, Any],
    ts: int,
    nonce: str,
) -> Package:
    """The unsigned package of a genesis of ``cards`` (the first one submits). ``ts`` and
    ``nonce`` are inputs (epoch ms; ``ledger.entries.nonce_from_bytes``). Raises CeremonyError."""
    if not cards:
        raise CeremonyError("a genesis needs at least one founder's card")
    orgs = [card.org for card in cards]
    if len(set(orgs)) != len(orgs):
        raise CeremonyError("two cards name the same member")
    first = cards[0]
    body = {
        "name": name,
        "members": [card.member_record() for card in cards],
        "quorum": dict(quorum),
        "policy": dict(policy),
    }
    kid = Kid(str(first.member["signing_keys"][0]["kid"]))
    tx = make_tx(EntryType.GENESIS, OrgId(first.org), kid, ts, nonce, body)
    check_tx(tx, tuple(cards))
    return Package(tuple(cards), tx, (), None)


@dataclass(frozen=True, slots=True)
class Signer:
    """One founder at its own desk: its org, signing key and private encryption JWK."""

    org: str
    signing_key: ec.EllipticCurvePrivateKey
    encryption_jwk: Mapping[str, str]


def sign(package: Package, signer: Signer, patient_key: bytes | None = None) -> Package:
    """``package`` with ``signer``'s signature added. The first founder also draws the patient
    key (``patient_key``: 32 random bytes from the caller) and shares it with every founder; any
    other founder opens its own share to check it. Raises CeremonyError: not a founder, a key
    that is not on its card, already signed, a share that does not open."""
    check_package(package)
    card = package.card(signer.org)
    kid = kid_of(signer.signing_key.public_key())
    if kid not in {k["kid"] for k in card.member["signing_keys"]}:
        raise CeremonyError(f"this signing key ({kid}) is not on {signer.org}'s card")
    enc_kid = public_jwk(dict(signer.encryption_jwk))["kid"]
    if enc_kid not in {k["kid"] for k in card.member["encryption_keys"]}:
        raise CeremonyError(f"this encryption key ({enc_kid}) is not on {signer.org}'s card")
    if package.signed_by(signer.org) is not None:
        raise CeremonyError(f"{signer.org} has signed this genesis already")
    first = signer.org == package.founders[0]
    if first and kid != package.tx["kid"]:
        raise CeremonyError(f"{signer.org} submits the genesis: sign with key {package.tx['kid']}")
    signature = endorse(package.tx, OrgId(signer.org), signer.signing_key)
    signed = package.with_signature(signature)
    if first:
        if patient_key is None:
            raise CeremonyError("the first founder draws the patient key: give 32 random bytes")
        shares = share_patient_key(
            patient_key, package.tx_id, signer.org, signer.signing_key, package.cards
        )
        signed = replace(signed, patient_key=shares)
    elif package.patient_key is not None:
        open_own_share(package, signer)
    check_package(signed)
    return signed


def open_own_share(package: Package, signer: Signer) -> bytes:
    """The signer's patient key from the package's shares (checked). Raises CeremonyError."""
    if package.patient_key is None:
        raise CeremonyError("the first founder has not signed yet: no patient key to open")
    return open_patient_key(
        package.patient_key,
        signer.org,
        signer.encryption_jwk,
        package.cards[0].member_record(),
        package.tx_id,
    )


def open_patient_key(
    shares: PatientKeyShares,
    org: str,
    private_jwk: Mapping[str, str],
    sender_record: Mapping[str, Any],
    consortium: str,
) -> bytes:
    try:
        return open_share(shares, org, private_jwk, sender_record, consortium)
    except ShareError as exc:
        raise CeremonyError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class Sealed:
    """The genesis leaf (what every gateway loads) and the founders' patient-key shares."""

    leaf: bytes
    consortium: str
    shares: PatientKeyShares


def missing_signatures(package: Package) -> list[str]:
    return [org for org in package.founders if package.signed_by(org) is None]


def seal(package: Package) -> Sealed:
    """The genesis leaf, once every founder signed: the first founder's signature as ``sig``, the
    others' as endorsements in card order; accepted by the ledger's genesis rule, or CeremonyError."""
    check_package(package)
    missing = missing_signatures(package)
    if missing:
        raise CeremonyError(f"founders who have not signed: {', '.join(missing)}")
    if package.patient_key is None:
        raise CeremonyError("no patient key was shared (the first founder's signature draws it)")
    submitter = package.signed_by(package.founders[0])
    assert submitter is not None  # noqa: S101 - checked by missing_signatures
    endorsements = [package.signed_by(org) for org in package.founders[1:]]
    leaf = encode_entry(package.tx, submitter.sig, [e for e in endorsements if e is not None])
    try:
        genesis_block(leaf, key_resolver(MemoryState()))
    except GenesisError as exc:
        raise CeremonyError(f"the ledger refuses this genesis: {exc}") from exc
    return Sealed(leaf, package.tx_id, package.patient_key)
