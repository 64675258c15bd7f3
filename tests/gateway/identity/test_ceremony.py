"""The ceremony's core (assemble, sign, seal) against the ledger's own genesis builder: the same
transaction, the same submitter and endorsement order, the same leaf format."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.crypto.keys import read_jwk
from gateway.identity.card import MemberCard
from gateway.identity.ceremony import Signer, assemble, parse_quorum, seal, sign
from gateway.identity.files import load_private_key
from gateway.identity.genesis_package import CeremonyError
from gateway.identity.member_keys import NewMember, generate_member
from gateway.identity.policy_terms import default_policy_terms
from ledger.blockbuild import genesis_block
from ledger.entries import decode_entry
from ledger.genesis import build_genesis, consortium_id
from ledger.ids import OrgId
from ledger.state.membership import key_resolver
from ledger.statekv import MemoryState
from tests.gateway.identity.ceremony import FOUNDERS

TS = 1_796_000_000_000
NONCE = "AAAAAAAAAAAAAAAAAAAAAA"


def _founders(root: Path) -> tuple[list[MemberCard], list[Signer]]:
    cards, signers = [], []
    for n, (org, role) in enumerate(FOUNDERS):
        spec = NewMember(org, role, f"https://{org}.example:{8400 + n}", post_quantum=n == 1)
        cards.append(generate_member(root / org, spec, datetime(2026, 12, 1, tzinfo=UTC)))
        keys = root / org / "keys"
        signers.append(
            Signer(
                org, load_private_key(keys / "signing.key"), read_jwk(keys / "encryption.jwk.json")
            )
        )
    return cards, signers


def test_the_ceremony_makes_the_leaf_build_genesis_makes(tmp_path: Path) -> None:
    cards, signers = _founders(tmp_path)
    quorum, policy = {"rule": "ALL"}, default_policy_terms()
    package = assemble(cards, "golden", quorum, policy, TS, NONCE)
    for signer in reversed(signers):  # the submitter signs last: order of signing is free
        package = sign(package, signer, bytes(range(32)))
    sealed = seal(package)
    reference = build_genesis(
        name="golden",
        members=[card.member_record() for card in cards],
        quorum=quorum,
        policy=policy,
        ts=TS,
        nonce=NONCE,
        signers={OrgId(s.org): s.signing_key for s in signers},
    )
    ours, theirs = decode_entry(sealed.leaf), decode_entry(reference)
    assert ours.tx == theirs.tx
    assert consortium_id(sealed.leaf) == consortium_id(reference) == sealed.consortium
    assert [(e.org, e.kid) for e in ours.endorsements] == [
        (e.org, e.kid) for e in theirs.endorsements
    ]
    for leaf in (sealed.leaf, reference):
        assert genesis_block(leaf, key_resolver(MemoryState())).header.height == 0


def test_a_signature_by_the_wrong_founders_key_never_reaches_a_seal(tmp_path: Path) -> None:
    cards, signers = _founders(tmp_path)
    package = assemble(cards, "x", {"rule": "MAJORITY"}, default_policy_terms(), TS, NONCE)
    hospital, insurer, _ = signers
    impostor = Signer(insurer.org, hospital.signing_key, insurer.encryption_jwk)
    with pytest.raises(CeremonyError, match="is not on insurer-b's card"):
        sign(package, impostor, None)
    with pytest.raises(CeremonyError, match="draws the patient key"):
        sign(package, hospital, None)
    with pytest.raises(CeremonyError, match="not signed: hospital-a, insurer-b, agency-c"):
        seal(package)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("ALL", {"rule": "ALL"}),
        ("majority", {"rule": "MAJORITY"}),
        ("2-of-3", {"rule": "K_OF_N", "k": 2}),
        ("3:3", {"rule": "K_OF_N", "k": 3}),
        ("1/3", {"rule": "K_OF_N", "k": 1}),
    ],
)
def test_quorum_rules(text: str, rule: dict[str, object]) -> None:
    assert parse_quorum(text, 3) == rule
