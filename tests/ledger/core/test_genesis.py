"""Genesis: built by the helper, valid only at index 0 and only when every founder signed."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.entries import decode_entry, encode_entry, make_tx, nonce_from_bytes, sign_entry
from ledger.genesis import build_genesis, consortium_id
from ledger.ids import OrgId
from ledger.signing import generate_signing_key, kid_of, sign
from ledger.state import consortium, member, members, policy, quorum
from ledger.validation.codes import ValidationCode as C
from tests.ledger.core.world import AGENCY, HOSPITAL, INSURER, POLICY_DIGEST, Chain, World


def _world() -> World:
    world = World()
    for org, role in ((HOSPITAL, "hospital"), (INSURER, "insurer"), (AGENCY, "agency")):
        world.add_org(org, role)
    return world


def _genesis_tx(world: World, **body_override: Any) -> dict[str, Any]:
    body = {
        "name": "test",
        "members": [world.record(org) for org in world.keys],
        "quorum": {"rule": "ALL"},
        "policy": {"version": "v1", "digest": POLICY_DIGEST},
    }
    body.update(body_override)
    key = world.keys[HOSPITAL]
    return make_tx(
        "consortium.genesis",
        HOSPITAL,
        kid_of(key.public_key()),
        1,
        nonce_from_bytes(bytes(16)),
        body,
    )


def test_valid_genesis_builds_state() -> None:
    world = _world()
    leaf = world.genesis({"rule": "K_OF_N", "k": 2})
    chain = Chain()
    assert chain.submit(leaf) == C.VALID
    info = consortium(chain.state)
    assert info is not None
    assert info.id == consortium_id(leaf)
    assert info.id == str(decode_entry(leaf).tx_id)
    assert [m.org for m in members(chain.state)] == sorted([HOSPITAL, INSURER, AGENCY])
    agency = member(chain.state, AGENCY)
    assert agency is not None
    assert agency.role == "agency"
    assert agency.is_active
    assert agency.active_kids() == (kid_of(world.keys[AGENCY].public_key()),)
    rule = quorum(chain.state)
    assert rule is not None
    assert (rule.rule, rule.k) == ("K_OF_N", 2)
    current = policy(chain.state)
    assert current is not None
    assert (current.version, current.digest, current.index) == ("v1", POLICY_DIGEST, 0)


def test_build_genesis_needs_every_signer() -> None:
    world = _world()
    records = [world.record(org) for org in world.keys]
    with pytest.raises(ValueError, match="no signing key"):
        build_genesis(
            "x",
            records,
            {"rule": "ALL"},
            {},
            1,
            nonce_from_bytes(bytes(16)),
            {HOSPITAL: world.keys[HOSPITAL]},
        )
    with pytest.raises(ValueError, match="at least one"):
        build_genesis("x", [], {"rule": "ALL"}, {}, 1, nonce_from_bytes(bytes(16)), {})


def test_genesis_after_index_zero_is_misplaced() -> None:
    world = _world()
    chain = Chain()
    assert chain.submit(world.genesis()) == C.VALID
    assert chain.submit(world.genesis()) == C.GENESIS_MISPLACED


def test_other_entry_at_index_zero_is_misplaced() -> None:
    world = _world()
    chain = Chain()
    leaf = world.entry("consent.revoke", HOSPITAL, {"consent_id": "c1"})
    assert chain.submit(leaf) == C.GENESIS_MISPLACED
    assert chain.rows() == {}


def _endorsed(world: World, tx: dict[str, Any], endorsers: list[OrgId]) -> bytes:
    return sign_entry(tx, world.keys[HOSPITAL], {org: world.keys[org] for org in endorsers})


def test_every_founder_must_sign() -> None:
    world = _world()
    chain = Chain()
    assert chain.submit(_endorsed(world, _genesis_tx(world), [INSURER])) == C.QUORUM_NOT_MET
    assert chain.rows() == {}


def test_forged_founder_endorsement() -> None:
    world = _world()
    tx = _genesis_tx(world)
    good = _endorsed(world, tx, [INSURER, AGENCY])
    entry = decode_entry(good)
    forged = [
        entry.endorsements[0],
        type(entry.endorsements[1])(AGENCY, entry.endorsements[1].kid, entry.endorsements[0].sig),
    ]
    assert Chain().submit(encode_entry(tx, entry.sig, forged)) == C.BAD_ENDORSEMENT


def test_endorsement_by_non_founder_or_foreign_key() -> None:
    world = _world()
    tx = _genesis_tx(world)
    base = decode_entry(_endorsed(world, tx, [INSURER, AGENCY]))
    outsider = generate_signing_key()
    stranger = type(base.endorsements[0])(
        OrgId("stranger"), kid_of(outsider.public_key()), sign(outsider, base.message)
    )
    assert (
        Chain().submit(encode_entry(tx, base.sig, [*base.endorsements, stranger]))
        == C.BAD_ENDORSEMENT
    )
    wrong_key = type(base.endorsements[0])(
        INSURER, kid_of(outsider.public_key()), sign(outsider, base.message)
    )
    assert (
        Chain().submit(encode_entry(tx, base.sig, [wrong_key, base.endorsements[1]]))
        == C.BAD_ENDORSEMENT
    )


def test_submitter_must_be_a_founder_with_its_key_and_a_good_signature() -> None:
    world = _world()
    tx = _genesis_tx(world)
    outsider = generate_signing_key()
    stranger_tx = {**tx, "org": "stranger"}
    ends = {INSURER: world.keys[INSURER], AGENCY: world.keys[AGENCY]}
    assert Chain().submit(sign_entry(stranger_tx, outsider, ends)) == C.UNKNOWN_MEMBER
    foreign_kid = {**tx, "kid": kid_of(outsider.public_key())}
    assert Chain().submit(sign_entry(foreign_kid, outsider, ends)) == C.UNKNOWN_KEY
    assert Chain().submit(sign_entry(tx, outsider, ends)) == C.BAD_SIGNATURE


@pytest.mark.parametrize(
    "override",
    [
        {"quorum": {"rule": "K_OF_N", "k": 4}},
        {"quorum": {"rule": "K_OF_N"}},
        {"quorum": {"rule": "SOME"}},
        {"policy": {"version": "v1"}},
        {"name": ""},
        {"members": []},
    ],
)
def test_bad_genesis_body(override: dict[str, Any]) -> None:
    world = _world()
    tx = _genesis_tx(world, **override)
    assert Chain().submit(_endorsed(world, tx, [INSURER, AGENCY])) == C.BAD_BODY


def test_duplicate_founders_are_a_bad_body() -> None:
    world = _world()
    record = world.record(HOSPITAL)
    tx = _genesis_tx(world, members=[record, record])
    assert Chain().submit(_endorsed(world, tx, [])) == C.BAD_BODY
