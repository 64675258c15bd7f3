"""Rules every entry passes: format, algorithm, type, membership, key, signature, nonce, tx id.

Each invalid entry must leave state untouched (Fabric's rule: it stays in the log with its code).
"""

from __future__ import annotations

import pytest

from ledger.canonical import canonical
from ledger.entries import decode_entry, encode_entry, sign_entry
from ledger.ids import OrgId
from ledger.signing import generate_signing_key, kid_of, sign
from ledger.state import access_for_patient, key_resolver, signing_key_for_kid
from ledger.statekv import MemoryState
from ledger.validation.apply import apply
from ledger.validation.codes import ValidationCode as C
from ledger.validation.prepare import prepare
from tests.ledger.core.world import AGENCY, HOSPITAL, INSURER, digest, pref, three_orgs

BODY = {"record_digest": digest("r1"), "patient_ref": pref("p1"), "reason": "retention"}


def test_valid_entry_records_nonce_and_tx_id() -> None:
    world, chain = three_orgs()
    leaf = world.entry("erasure.record", HOSPITAL, BODY)
    entry = decode_entry(leaf)
    assert chain.submit(leaf) == C.VALID
    # One row per valid entry guards both replay rules: its nonce, holding its index and tx id.
    expected = canonical({"index": 1, "tx_id": entry.tx_id})
    assert chain.state.get("nonces", f"{HOSPITAL}/{entry.nonce}") == expected
    assert chain.state.get("txids", entry.tx_id) is None


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{", C.MALFORMED),
        (b"x" * (64 * 1024 + 1), C.TOO_LARGE),
    ],
)
def test_undecodable_leaves(raw: bytes, code: C) -> None:
    _, chain = three_orgs()
    before = chain.rows()
    assert chain.submit(raw) == code
    assert chain.rows() == before


def test_bad_version_unsupported_alg_unknown_type_bad_body() -> None:
    world, chain = three_orgs()
    key = world.keys[HOSPITAL]
    before = chain.rows()
    for change, code in (
        ({"v": 2}, C.BAD_VERSION),
        ({"alg": "SM2"}, C.UNSUPPORTED_ALG),
        ({"type": "weather.report"}, C.UNKNOWN_TYPE),
        ({"body": {**BODY, "patient_ref": "Jane Doe"}}, C.BAD_BODY),
    ):
        tx = {**world.tx("erasure.record", HOSPITAL, BODY), **change}
        assert chain.submit(sign_entry(tx, key)) == code
    assert chain.rows() == before


def test_endorsements_on_a_non_governance_entry_are_malformed() -> None:
    world, chain = three_orgs()
    leaf = world.entry("erasure.record", HOSPITAL, BODY, endorsers=[INSURER])
    assert chain.submit(leaf) == C.MALFORMED


def test_unknown_member() -> None:
    world, chain = three_orgs()
    world.add_org(OrgId("stranger"), "hospital")
    assert chain.submit(world.entry("erasure.record", OrgId("stranger"), BODY)) == C.UNKNOWN_MEMBER


def test_removed_member_is_inactive() -> None:
    world, chain = three_orgs()
    remove = world.entry("member.remove", HOSPITAL, {"org": AGENCY}, endorsers=[INSURER])
    assert chain.submit(remove) == C.VALID
    before = chain.rows()
    assert chain.submit(world.entry("erasure.record", AGENCY, BODY)) == C.MEMBER_INACTIVE
    assert chain.rows() == before


def test_unknown_key_and_another_orgs_key() -> None:
    world, chain = three_orgs()
    stray = generate_signing_key()
    assert chain.submit(world.entry("erasure.record", HOSPITAL, BODY, key=stray)) == C.UNKNOWN_KEY
    # The insurer's real key, but claimed by the hospital: a key signs only for its own org.
    claimed = world.entry("erasure.record", HOSPITAL, BODY, key=world.keys[INSURER])
    assert chain.submit(claimed) == C.UNKNOWN_KEY


def test_bad_signature() -> None:
    world, chain = three_orgs()
    tx = world.tx("erasure.record", HOSPITAL, BODY)
    forged = encode_entry(tx, sign(world.keys[INSURER], canonical(tx)))
    assert chain.submit(forged) == C.BAD_SIGNATURE
    assert chain.submit(encode_entry(tx, "AAAA")) == C.BAD_SIGNATURE
    assert chain.submit(sign_entry(tx, world.keys[HOSPITAL])) == C.VALID


def test_nonce_reused_by_the_same_org_only() -> None:
    world, chain = three_orgs()
    first = world.entry("erasure.record", HOSPITAL, BODY)
    nonce = decode_entry(first).nonce
    assert chain.submit(first) == C.VALID
    other_body = {**BODY, "record_digest": digest("r2")}
    again = world.entry("erasure.record", HOSPITAL, other_body, nonce=nonce)
    assert chain.submit(again) == C.NONCE_REUSED
    assert chain.submit(world.entry("erasure.record", INSURER, other_body, nonce=nonce)) == C.VALID


def test_duplicate_tx_id_even_when_re_signed() -> None:
    world, chain = three_orgs()
    tx = world.tx("erasure.record", HOSPITAL, BODY)
    assert chain.submit(sign_entry(tx, world.keys[HOSPITAL])) == C.VALID
    before = chain.rows()
    # ECDSA signs with fresh randomness: a different leaf, the same transaction.
    assert chain.submit(sign_entry(tx, world.keys[HOSPITAL])) == C.DUPLICATE_TXID
    assert chain.rows() == before


def test_invalid_entries_change_no_state_and_do_not_burn_the_nonce() -> None:
    world, chain = three_orgs()
    access = {
        "requester": INSURER, "requester_role": "insurer", "custodian": HOSPITAL,
        "patient_ref": pref("p1"), "purpose": "HPAYMT", "resource_types": ["Claim"],
        "decision": "permit", "basis": ["missing"], "policy_version": "v1", "obligations": [],
        "break_glass": False, "decision_digest": digest("d"),
    }  # fmt: skip
    tx = world.tx("access.record", HOSPITAL, access)
    assert chain.submit(sign_entry(tx, world.keys[HOSPITAL])) == C.NOT_FOUND
    assert access_for_patient(chain.state, pref("p1")) == []
    fixed = {**tx, "body": {**access, "basis": []}}
    assert chain.submit(sign_entry(fixed, world.keys[HOSPITAL])) == C.VALID


def test_phase_one_unchecked_equals_checked() -> None:
    """A key unknown at prepare time (added earlier in the block) is checked in phase 2 instead."""
    world, chain = three_orgs()
    leaf = world.entry("erasure.record", AGENCY, BODY)
    checked = prepare(leaf, lambda kid: None)
    assert checked.sig_ok is None
    assert apply(checked, 1, chain.state)[0] == C.VALID
    tx = decode_entry(leaf).tx
    bad = encode_entry(tx, sign(world.keys[HOSPITAL], canonical(tx)))
    assert apply(prepare(bad, lambda kid: None), 1, chain.state)[0] == C.BAD_SIGNATURE


def test_apply_never_writes_its_reader() -> None:
    world, chain = three_orgs()
    frozen = MemoryState(chain.rows())
    code, changes = apply(
        prepare(world.entry("erasure.record", HOSPITAL, BODY), lambda k: None), 1, frozen
    )
    assert code == C.VALID
    assert changes
    assert frozen.rows == chain.rows()


def test_phase_one_checks_with_either_resolver_kind() -> None:
    """``key_resolver`` yields loaded VerifyingKeys; a resolver of bare P-256 keys means ES256."""
    world, chain = three_orgs()
    leaf = world.entry("erasure.record", HOSPITAL, BODY)
    loaded = prepare(leaf, key_resolver(chain.state))
    bare = prepare(leaf, lambda kid: signing_key_for_kid(chain.state, kid))
    assert loaded.sig_ok is True
    assert bare.sig_ok is True
    forged = prepare(
        world.entry("erasure.record", HOSPITAL, BODY, kid=kid_of(world.keys[INSURER].public_key())),
        key_resolver(chain.state),
    )
    assert forged.sig_ok is False
    assert apply(forged, 1, chain.state)[0] == C.UNKNOWN_KEY
