"""Governance proposals: the stream's messages, the book, and the tally, which must agree with the
ledger's own quorum rule on every endorsement set (the entry it assembles is VALID exactly when the
tally says the quorum is met)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from ledger.canonical import canonical
from ledger.entries import Endorsement, endorse
from ledger.ids import OrgId
from ledger.proposals import (
    Book,
    EndorsementMessage,
    Proposal,
    decode_message,
    encode_endorsement,
    encode_proposal,
    tally,
    unreachable,
)
from ledger.signing import kid_of, sign
from ledger.validation.codes import ValidationCode as C
from tests.ledger.core.world import AGENCY, HOSPITAL, INSURER, Chain, World, three_orgs

NEW = OrgId("insurer-d")
OUTSIDER = OrgId("outsider")
EXPIRES = 1_800_000_000_000


def _proposal(world: World, type_: str, body: dict[str, Any], by: OrgId = HOSPITAL) -> Proposal:
    tx = world.tx(type_, by, body)
    raw = encode_proposal(tx, sign(world.keys[by], canonical(tx)), EXPIRES)
    found = decode_message(raw, 1)
    assert isinstance(found, Proposal)
    return found


def _add(world: World) -> Proposal:
    world.add_org(NEW, "insurer")
    world.add_org(OUTSIDER, "hospital")
    return _proposal(world, "member.add", {"member": world.record(NEW)})


def _forged(world: World, p: Proposal) -> Endorsement:
    """INSURER's name and key id over a signature by AGENCY's key."""
    kid = kid_of(world.keys[INSURER].public_key())
    return Endorsement(INSURER, kid, sign(world.keys[AGENCY], p.message))


def test_messages_round_trip() -> None:
    world, _ = three_orgs()
    p = _add(world)
    assert (p.proposer, p.type, p.expires_ms, p.id) == (
        HOSPITAL,
        "member.add",
        EXPIRES,
        p.digest[:16],
    )
    e = endorse(p.tx, INSURER, world.keys[INSURER])
    message = decode_message(encode_endorsement(p.digest, e), 2)
    assert message == EndorsementMessage(p.digest, e)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"proposal":{"tx":{},"sig":"x","expires":1}}',
        b'{"endorsement":{"digest":"aa","org":"Not An Org","kid":"k","sig":"s"}}',
        b'{"cut":{"org":"a","after":1}}',
        b'{"proposal": {}}',  # not canonical
    ],
)
def test_junk_is_ignored(raw: bytes) -> None:
    assert decode_message(raw, 1) is None


def test_only_governance_types_are_proposals() -> None:
    world, _ = three_orgs()
    tx = world.tx("erasure.record", HOSPITAL, {"record_digest": "a" * 64})
    raw = encode_proposal(tx, sign(world.keys[HOSPITAL], canonical(tx)), EXPIRES)
    assert decode_message(raw, 1) is None


def test_book_keeps_the_first_proposal_of_an_id_and_matching_endorsements() -> None:
    world, _ = three_orgs()
    p = _add(world)
    book = Book()
    raw = encode_proposal(p.tx, p.sig, EXPIRES)
    assert book.apply(1, raw) is not None
    assert book.apply(2, encode_proposal(p.tx, p.sig, EXPIRES + 1)) is None  # the id is taken
    assert book.proposals[p.id].expires_ms == EXPIRES
    e = endorse(p.tx, INSURER, world.keys[INSURER])
    other_digest = p.id + "0" * 48  # same id prefix, another digest: not this proposal
    assert book.apply(3, encode_endorsement(other_digest, e)) is None  # type: ignore[arg-type]
    assert book.apply(4, encode_endorsement(p.digest, e)) is not None
    assert book.proposals[p.id].endorsements == [e]
    assert book.position == 4


ENDORSERS = ("insurer", "agency", "forged", "outsider", "insurer-again")


def _endorsements(world: World, p: Proposal, names: tuple[str, ...]) -> list[Endorsement]:
    made = {
        "insurer": lambda: endorse(p.tx, INSURER, world.keys[INSURER]),
        "agency": lambda: endorse(p.tx, AGENCY, world.keys[AGENCY]),
        "forged": lambda: _forged(world, p),
        "outsider": lambda: endorse(p.tx, OUTSIDER, world.keys[OUTSIDER]),
        "insurer-again": lambda: endorse(p.tx, INSURER, world.keys[INSURER]),
    }
    return [made[name]() for name in names]


@pytest.mark.parametrize(
    "rule", [{"rule": "ALL"}, {"rule": "MAJORITY"}, {"rule": "K_OF_N", "k": 2}]
)
def test_tally_agrees_with_the_ledger_on_every_endorsement_set(rule: dict[str, Any]) -> None:
    world, chain = three_orgs(rule)
    p = _add(world)
    for size in range(len(ENDORSERS) + 1):
        for names in itertools.combinations(ENDORSERS, size):
            p.endorsements = _endorsements(world, p, names)
            counted = tally(chain.state, p)
            fork = Chain(copy.deepcopy(chain.state), list(chain.leaves), list(chain.codes))
            code = fork.submit(p.leaf(counted.counted))
            # Never BAD_ENDORSEMENT: what the tally puts in the entry always verifies.
            assert code is (C.VALID if counted.met else C.QUORUM_NOT_MET), names
            assert len(counted.signers) == len(set(counted.signers))


def test_member_remove_excludes_its_target_and_unreachable_rules() -> None:
    world, chain = three_orgs({"rule": "ALL"})
    p = _proposal(world, "member.remove", {"org": AGENCY})
    p.endorsements = [endorse(p.tx, AGENCY, world.keys[AGENCY])]
    counted = tally(chain.state, p)
    assert (counted.electorate, counted.needed, counted.signers) == (2, 2, (HOSPITAL,))
    assert not counted.met
    assert unreachable(chain.state, "member.remove", {"org": AGENCY}) is None
    _, chain3 = three_orgs({"rule": "K_OF_N", "k": 3})
    problem = unreachable(chain3.state, "member.remove", {"org": AGENCY})
    assert problem is not None
    assert "could never be met" in problem
    k4 = {"version": "v2", "digest": "b" * 64, "quorum": {"rule": "K_OF_N", "k": 4}}
    assert unreachable(chain3.state, "policy.set", k4) is not None
    k3 = {**k4, "quorum": {"rule": "K_OF_N", "k": 3}}
    assert unreachable(chain3.state, "policy.set", k3) is None
