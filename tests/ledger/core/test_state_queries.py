"""Typed state queries: members and keys, the key resolver of a block, quorum arithmetic."""

from __future__ import annotations

import pytest

from ledger.signing import as_verifying_key, generate_signing_key, kid_of, sign
from ledger.state import (
    Quorum,
    active_members,
    active_signing_key,
    key_resolver,
    member,
    members,
    policy,
    quorum,
)
from ledger.statekv import MemoryState
from ledger.validation.codes import ValidationCode as C
from tests.ledger.core.world import AGENCY, HOSPITAL, INSURER, three_orgs


def test_empty_state_answers_none_or_nothing() -> None:
    empty = MemoryState()
    assert members(empty) == []
    assert member(empty, HOSPITAL) is None
    assert policy(empty) is None
    assert quorum(empty) is None
    assert key_resolver(empty)(kid_of(generate_signing_key().public_key())) is None


def test_key_resolver_knows_retired_keys_but_active_signing_key_does_not() -> None:
    world, chain = three_orgs()
    old = world.keys[INSURER]
    new = generate_signing_key()
    body = world.rotation(INSURER, new)
    assert chain.submit(world.entry("member.update", INSURER, body, endorsers=[AGENCY])) == C.VALID
    resolver = key_resolver(chain.state)
    loaded = resolver(kid_of(old.public_key()))
    assert loaded is not None
    assert as_verifying_key(loaded).verify(b"m", sign(old, b"m"))
    assert active_signing_key(chain.state, INSURER, kid_of(old.public_key())) is None
    assert active_signing_key(chain.state, INSURER, kid_of(new.public_key())) is not None
    # A key is active only for the org that owns it.
    assert active_signing_key(chain.state, HOSPITAL, kid_of(new.public_key())) is None


def test_active_members_after_removal() -> None:
    world, chain = three_orgs()
    leaf = world.entry("member.remove", HOSPITAL, {"org": AGENCY}, endorsers=[INSURER])
    assert chain.submit(leaf) == C.VALID
    assert [m.org for m in members(chain.state)] == [AGENCY, HOSPITAL, INSURER]
    assert [m.org for m in active_members(chain.state)] == [HOSPITAL, INSURER]


@pytest.mark.parametrize(
    ("rule", "electorate", "needed"),
    [
        (Quorum("ALL"), 3, 3),
        (Quorum("MAJORITY"), 3, 2),
        (Quorum("MAJORITY"), 4, 3),
        (Quorum("MAJORITY"), 1, 1),
        (Quorum("K_OF_N", 2), 3, 2),
        (Quorum("K_OF_N", 4), 3, None),
        (Quorum("ALL"), 0, None),
    ],
)
def test_quorum_required(rule: Quorum, electorate: int, needed: int | None) -> None:
    assert rule.required(electorate) == needed
