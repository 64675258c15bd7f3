"""Governance: member.add / update / remove and policy.set under the quorum rule in state."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.canonical import canonical
from ledger.entries import Endorsement, encode_entry
from ledger.ids import OrgId
from ledger.signing import generate_signing_key, kid_of, sign
from ledger.state import active_signing_key, member, policy, quorum
from ledger.validation.codes import ValidationCode as C
from tests.ledger.core.world import AGENCY, HOSPITAL, INSURER, World, digest, pref, three_orgs

NEW = OrgId("hospital-d")
ERASE = {"record_digest": digest("r"), "patient_ref": pref("p"), "reason": "retention"}


def _add(world: World, endorsers: list[OrgId], org: OrgId = NEW) -> bytes:
    world.add_org(org, "hospital")
    return world.entry("member.add", HOSPITAL, {"member": world.record(org)}, endorsers=endorsers)


def test_member_add_with_majority() -> None:
    world, chain = three_orgs()
    assert chain.submit(_add(world, [INSURER])) == C.VALID
    added = member(chain.state, NEW)
    assert added is not None
    assert added.is_active
    assert active_signing_key(chain.state, NEW, kid_of(world.keys[NEW].public_key())) is not None
    # Usable from the next entry on.
    assert chain.submit(world.entry("erasure.record", NEW, ERASE)) == C.VALID


def test_member_add_without_quorum() -> None:
    world, chain = three_orgs()
    before = chain.rows()
    assert chain.submit(_add(world, [])) == C.QUORUM_NOT_MET
    assert chain.rows() == before


def test_duplicate_and_non_member_endorsements_do_not_count() -> None:
    world, chain = three_orgs()
    world.add_org(NEW, "hospital")
    outsider = OrgId("outsider")
    world.add_org(outsider, "hospital")
    tx = world.tx("member.add", HOSPITAL, {"member": world.record(NEW)})
    ends = [
        _endorse(world, tx, HOSPITAL),  # the submitter again
        _endorse(world, tx, outsider),
        _endorse(world, tx, outsider),
    ]
    leaf = encode_entry(tx, _sig(world, tx, HOSPITAL), ends)
    assert chain.submit(leaf) == C.QUORUM_NOT_MET
    leaf = encode_entry(tx, _sig(world, tx, HOSPITAL), [*ends, _endorse(world, tx, AGENCY)])
    assert chain.submit(leaf) == C.VALID


def _sig(world: World, tx: dict[str, Any], org: OrgId) -> str:
    return sign(world.keys[org], canonical(tx))


def _endorse(world: World, tx: dict[str, Any], org: OrgId) -> Endorsement:
    return Endorsement(org, kid_of(world.keys[org].public_key()), _sig(world, tx, org))


def test_forged_member_endorsement_is_bad() -> None:
    world, chain = three_orgs()
    world.add_org(NEW, "hospital")
    tx = world.tx("member.add", HOSPITAL, {"member": world.record(NEW)})
    insurer_kid = kid_of(world.keys[INSURER].public_key())
    forged = Endorsement(INSURER, insurer_kid, _sig(world, tx, AGENCY))
    assert chain.submit(encode_entry(tx, _sig(world, tx, HOSPITAL), [forged])) == C.BAD_ENDORSEMENT
    foreign = Endorsement(INSURER, kid_of(world.keys[AGENCY].public_key()), _sig(world, tx, AGENCY))
    assert chain.submit(encode_entry(tx, _sig(world, tx, HOSPITAL), [foreign])) == C.BAD_ENDORSEMENT


def test_member_add_existing_org_or_key() -> None:
    world, chain = three_orgs()
    again = world.entry(
        "member.add", HOSPITAL, {"member": world.record(INSURER)}, endorsers=[AGENCY]
    )
    assert chain.submit(again) == C.ALREADY_EXISTS
    world.add_org(NEW, "hospital")
    reused = world.record(NEW, key=world.keys[AGENCY])
    leaf = world.entry("member.add", HOSPITAL, {"member": reused}, endorsers=[AGENCY])
    assert chain.submit(leaf) == C.ALREADY_EXISTS


@pytest.mark.parametrize(
    ("rule", "endorsers", "code"),
    [
        ({"rule": "ALL"}, [INSURER], C.QUORUM_NOT_MET),
        ({"rule": "ALL"}, [INSURER, AGENCY], C.VALID),
        ({"rule": "K_OF_N", "k": 1}, [], C.VALID),
        ({"rule": "K_OF_N", "k": 3}, [AGENCY], C.QUORUM_NOT_MET),
        ({"rule": "MAJORITY"}, [AGENCY], C.VALID),
    ],
)
def test_quorum_rules(rule: dict[str, Any], endorsers: list[OrgId], code: C) -> None:
    world, chain = three_orgs(rule)
    assert chain.submit(_add(world, endorsers)) == code


def test_key_rotation_takes_effect_from_the_next_entry() -> None:
    world, chain = three_orgs()
    old = world.keys[HOSPITAL]
    new = generate_signing_key()
    body = world.rotation(HOSPITAL, new)
    # Signed with the key it retires: valid, since the key is still active at this entry.
    assert (
        chain.submit(world.entry("member.update", HOSPITAL, body, endorsers=[INSURER])) == C.VALID
    )
    assert chain.submit(world.entry("erasure.record", HOSPITAL, ERASE, key=old)) == C.KEY_RETIRED
    assert chain.submit(world.entry("erasure.record", HOSPITAL, ERASE, key=new)) == C.VALID
    record = member(chain.state, HOSPITAL)
    assert record is not None
    assert record.active_kids() == (kid_of(new.public_key()),)


def test_rotation_within_one_block() -> None:
    """The new key signs in the same block it is added: phase 1 cannot know it, phase 2 checks."""
    world, chain = three_orgs()
    new = generate_signing_key()
    add = {"org": HOSPITAL, "add_signing_key": world.record(HOSPITAL, key=new)["signing_keys"][0]}
    leaves = [
        world.entry("member.update", HOSPITAL, add, endorsers=[INSURER]),
        world.entry("erasure.record", HOSPITAL, ERASE, key=new),
    ]
    assert [v.code for v in chain.block(leaves)] == [C.VALID, C.VALID]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"org": "nobody", "endpoint": "https://x.test"}, C.NOT_FOUND),
        ({"org": HOSPITAL, "retire_kid": "A" * 43}, C.NOT_FOUND),
        ({"org": HOSPITAL}, C.BAD_BODY),
        ({"org": HOSPITAL, "endpoint": "ftp://x"}, C.BAD_BODY),
        (
            {
                "org": HOSPITAL,
                "encryption_keys": [{"kid": "e", "alg": "ECDH-ES", "jwk": {"kty": "EC", "d": "x"}}],
            },
            C.BAD_BODY,
        ),
    ],
)
def test_member_update_refusals(body: dict[str, Any], code: C) -> None:
    world, chain = three_orgs()
    assert chain.submit(world.entry("member.update", HOSPITAL, body, endorsers=[INSURER])) == code


def test_retiring_the_last_key_or_a_retired_key() -> None:
    world, chain = three_orgs()
    old_kid = kid_of(world.keys[INSURER].public_key())
    last = world.entry(
        "member.update", INSURER, {"org": INSURER, "retire_kid": old_kid}, endorsers=[AGENCY]
    )
    assert chain.submit(last) == C.BAD_BODY
    new = generate_signing_key()
    rotate = world.rotation(INSURER, new)
    assert (
        chain.submit(world.entry("member.update", INSURER, rotate, endorsers=[AGENCY])) == C.VALID
    )
    again = world.entry(
        "member.update", AGENCY, {"org": INSURER, "retire_kid": old_kid}, endorsers=[HOSPITAL]
    )
    assert chain.submit(again) == C.ALREADY_REVOKED


def test_update_endpoint_and_update_of_removed_member() -> None:
    world, chain = three_orgs()
    update = {"org": AGENCY, "endpoint": "https://new.test"}
    assert (
        chain.submit(world.entry("member.update", AGENCY, update, endorsers=[HOSPITAL])) == C.VALID
    )
    agency = member(chain.state, AGENCY)
    assert agency is not None
    assert agency.endpoint == "https://new.test"
    assert (
        chain.submit(world.entry("member.remove", HOSPITAL, {"org": AGENCY}, endorsers=[INSURER]))
        == C.VALID
    )
    assert (
        chain.submit(world.entry("member.update", HOSPITAL, update, endorsers=[INSURER]))
        == C.MEMBER_INACTIVE
    )


def test_member_remove_excludes_the_target_from_the_electorate() -> None:
    world, chain = three_orgs({"rule": "ALL"})
    # ALL of {hospital, insurer}: the agency being removed neither counts nor is required.
    leaf = world.entry("member.remove", HOSPITAL, {"org": AGENCY}, endorsers=[INSURER])
    assert chain.submit(leaf) == C.VALID
    removed = member(chain.state, AGENCY)
    assert removed is not None
    assert removed.status == "removed"
    assert active_signing_key(chain.state, AGENCY, kid_of(world.keys[AGENCY].public_key())) is None
    again = world.entry("member.remove", HOSPITAL, {"org": AGENCY}, endorsers=[INSURER])
    assert chain.submit(again) == C.ALREADY_REVOKED
    gone = world.entry("member.remove", HOSPITAL, {"org": "nobody"}, endorsers=[INSURER])
    assert chain.submit(gone) == C.NOT_FOUND


def test_member_remove_needs_quorum_of_the_others() -> None:
    world, chain = three_orgs({"rule": "ALL"})
    leaf = world.entry("member.remove", HOSPITAL, {"org": AGENCY}, endorsers=[AGENCY])
    assert chain.submit(leaf) == C.QUORUM_NOT_MET


def test_policy_set() -> None:
    world, chain = three_orgs()
    body = {"version": "v2", "digest": digest("p2"), "quorum": {"rule": "ALL"}}
    assert chain.submit(world.entry("policy.set", HOSPITAL, body, endorsers=[INSURER])) == C.VALID
    current = policy(chain.state)
    assert current is not None
    assert (current.version, current.index) == ("v2", 1)
    rule = quorum(chain.state)
    assert rule is not None
    assert rule.rule == "ALL"
    # The new rule applies from the next entry: two of three no longer suffice.
    body3 = {"version": "v3", "digest": digest("p3")}
    assert (
        chain.submit(world.entry("policy.set", HOSPITAL, body3, endorsers=[INSURER]))
        == C.QUORUM_NOT_MET
    )


def test_policy_set_refusals() -> None:
    world, chain = three_orgs()
    same = {"version": "v1", "digest": digest("x")}
    assert (
        chain.submit(world.entry("policy.set", HOSPITAL, same, endorsers=[INSURER]))
        == C.ALREADY_EXISTS
    )
    never = {"version": "v2", "digest": digest("x"), "quorum": {"rule": "K_OF_N", "k": 4}}
    assert (
        chain.submit(world.entry("policy.set", HOSPITAL, never, endorsers=[INSURER])) == C.BAD_BODY
    )
    short = {"version": "v2", "digest": "abc"}
    assert (
        chain.submit(world.entry("policy.set", HOSPITAL, short, endorsers=[INSURER])) == C.BAD_BODY
    )


def _member_with(world: World, **override: Any) -> dict[str, Any]:
    world.add_org(NEW, "hospital")
    return {**world.record(NEW), **override}


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"role": "pharmacy"}, C.BAD_BODY),
        ({"status": "removed"}, C.BAD_BODY),
        ({"endpoint": "not a url"}, C.BAD_BODY),
        ({"signing_keys": []}, C.BAD_BODY),
        ({"ca_chain": ["not base64!"]}, C.BAD_BODY),
        ({"ca_chain": ["MAo="]}, C.BAD_BODY),
        (
            {
                "encryption_keys": [
                    {"kid": "e1", "alg": "ECDH-ES+A256KW", "jwk": {"kty": "EC", "d": "secret"}}
                ]
            },
            C.BAD_BODY,
        ),
        ({"name": "line\nbreak"}, C.BAD_BODY),
    ],
)
def test_member_add_bad_record(override: dict[str, Any], code: C) -> None:
    world, chain = three_orgs()
    body = {"member": _member_with(world, **override)}
    assert chain.submit(world.entry("member.add", HOSPITAL, body, endorsers=[INSURER])) == code


def test_member_add_key_checks() -> None:
    world, chain = three_orgs()
    record = _member_with(world)
    other = generate_signing_key()
    wrong_kid = [{**record["signing_keys"][0], "kid": kid_of(other.public_key())}]
    leaf = world.entry(
        "member.add",
        HOSPITAL,
        {"member": {**record, "signing_keys": wrong_kid}},
        endorsers=[INSURER],
    )
    assert chain.submit(leaf) == C.BAD_BODY
    sm2 = [{**record["signing_keys"][0], "alg": "SM2"}]
    leaf = world.entry(
        "member.add", HOSPITAL, {"member": {**record, "signing_keys": sm2}}, endorsers=[INSURER]
    )
    assert chain.submit(leaf) == C.UNSUPPORTED_ALG
    good = {
        **record,
        "encryption_keys": [
            {
                "kid": "e1",
                "alg": "ECDH-ES+A256KW",
                "jwk": {"kty": "EC", "crv": "P-256", "x": "x", "y": "y"},
            }
        ],
        "ca_chain": ["MAo"],
    }
    assert (
        chain.submit(world.entry("member.add", HOSPITAL, {"member": good}, endorsers=[INSURER]))
        == C.VALID
    )
    added = member(chain.state, NEW)
    assert added is not None
    assert added.encryption_keys[0].jwk["crv"] == "P-256"
    assert added.ca_chain == ("MAo",)


def test_endorsements_by_retired_keys_or_removed_members_do_not_count() -> None:
    world, chain = three_orgs({"rule": "K_OF_N", "k": 2})
    old = world.keys[INSURER]
    new = generate_signing_key()
    rotate = world.rotation(INSURER, new)
    assert (
        chain.submit(world.entry("member.update", INSURER, rotate, endorsers=[AGENCY])) == C.VALID
    )
    world.keys[INSURER] = old  # endorse with the retired key
    assert chain.submit(_add(world, [INSURER])) == C.QUORUM_NOT_MET
    world.keys[INSURER] = new
    assert (
        chain.submit(world.entry("member.remove", HOSPITAL, {"org": AGENCY}, endorsers=[INSURER]))
        == C.VALID
    )
    world.add_org(OrgId("hospital-e"), "hospital")
    late = world.entry(
        "member.add", HOSPITAL, {"member": world.record(OrgId("hospital-e"))}, endorsers=[AGENCY]
    )
    assert chain.submit(late) == C.QUORUM_NOT_MET


@pytest.mark.parametrize(
    ("rule", "endorsers", "code"),
    [
        # k-of-n with k = 3 of 3: removing anyone leaves 2, and the rule could never be met.
        ({"rule": "K_OF_N", "k": 3}, [INSURER], C.QUORUM_UNREACHABLE),
        # Refused before the quorum is even counted: the same code with every signature there.
        ({"rule": "K_OF_N", "k": 3}, [INSURER, AGENCY], C.QUORUM_UNREACHABLE),
        ({"rule": "K_OF_N", "k": 2}, [INSURER], C.VALID),
        ({"rule": "ALL"}, [INSURER], C.VALID),
        ({"rule": "MAJORITY"}, [INSURER], C.VALID),
    ],
)
def test_member_remove_that_would_make_the_quorum_unreachable(
    rule: dict[str, Any], endorsers: list[OrgId], code: C
) -> None:
    world, chain = three_orgs(rule)
    before = chain.rows()
    leaf = world.entry("member.remove", HOSPITAL, {"org": AGENCY}, endorsers=endorsers)
    assert chain.submit(leaf) == code
    if code is not C.VALID:
        assert chain.rows() == before
        found = member(chain.state, AGENCY)
        assert found is not None
        assert found.is_active


def test_removing_down_to_the_last_member() -> None:
    world, chain = three_orgs({"rule": "ALL"})
    first = world.entry("member.remove", HOSPITAL, {"org": AGENCY}, endorsers=[INSURER])
    assert chain.submit(first) == C.VALID
    second = world.entry("member.remove", HOSPITAL, {"org": INSURER})
    assert chain.submit(second) == C.VALID
    # One member left: removing it would leave nobody to decide anything.
    last = world.entry("member.remove", HOSPITAL, {"org": HOSPITAL})
    assert chain.submit(last) == C.QUORUM_UNREACHABLE


def test_retirement_records_the_retiring_entrys_ts_golden() -> None:
    """Golden: the retired key's row (and its place in the member record) carries the ts of the
    entry that retired it, taken from the entry, never from a clock: gateways measure the peer
    assertion overlap from it (docs/key-rotation.md)."""
    world, chain = three_orgs()
    old_kid = kid_of(world.keys[HOSPITAL].public_key())
    new = generate_signing_key()
    body = world.rotation(HOSPITAL, new)
    leaf = world.entry("member.update", HOSPITAL, body, endorsers=[INSURER], ts=1_812_345_678_901)
    index = len(chain.leaves)
    assert index == 1  # after the genesis
    assert chain.submit(leaf) == C.VALID
    row = chain.state.get("keys", old_kid)
    assert row is not None
    pub = world.record(HOSPITAL)["signing_keys"][0]["pub"]
    expected = {
        "alg": "ES256",
        "org": HOSPITAL,
        "pub": pub,
        "retired_index": 1,
        "retired_ts": 1_812_345_678_901,
        "status": "retired",
    }
    assert row == canonical(expected)
    record = member(chain.state, HOSPITAL)
    assert record is not None
    (retired,) = [k for k in record.signing_keys if k.kid == old_kid]
    assert (retired.status, retired.retired_ts, retired.retired_index) == (
        "retired",
        1_812_345_678_901,
        1,
    )
    (active,) = [k for k in record.signing_keys if k.is_active]
    assert active.retired_ts is None
    new_row = chain.state.get("keys", kid_of(new.public_key()))
    assert new_row is not None
    assert b"retired" not in new_row


def test_a_compromised_retirement_is_marked_golden() -> None:
    """Golden: ``compromised`` marks the retired key's row; it is refused without retire_kid."""
    world, chain = three_orgs()
    old_kid = kid_of(world.keys[HOSPITAL].public_key())
    new = generate_signing_key()
    added = world.record(HOSPITAL, key=new)["signing_keys"][0]
    alone = {"org": HOSPITAL, "add_signing_key": added, "compromised": True}
    assert (
        chain.submit(world.entry("member.update", HOSPITAL, alone, endorsers=[INSURER]))
        == C.BAD_BODY
    )
    body = {"org": HOSPITAL, "add_signing_key": added, "retire_kid": old_kid, "compromised": True}
    leaf = world.entry("member.update", HOSPITAL, body, endorsers=[INSURER], ts=1_812_000_000_000)
    index = len(chain.leaves)
    assert chain.submit(leaf) == C.VALID
    pub = world.record(HOSPITAL)["signing_keys"][0]["pub"]
    expected = {
        "alg": "ES256",
        "compromised": True,
        "org": HOSPITAL,
        "pub": pub,
        "retired_index": index,
        "retired_ts": 1_812_000_000_000,
        "status": "retired",
    }
    assert chain.state.get("keys", old_kid) == canonical(expected)
    record = member(chain.state, HOSPITAL)
    assert record is not None
    assert [k.compromised for k in record.signing_keys] == [True, False]
