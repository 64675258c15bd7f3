"""Signing, strict decoding and verification of single checkpoint messages."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.blocks import GENESIS_PREV_HASH, BlockHeader, codes_digest
from ledger.canonical import canonical, parse
from ledger.checkpoint import (
    Checkpoint,
    Rejection,
    decode_and_verify,
    decode_checkpoint,
    sign_checkpoint,
)
from ledger.errors import CheckpointError
from ledger.ids import ConsortiumId
from ledger.signing import generate_signing_key
from tests.ledger.checkpoints.support import CONSORTIUM, A, B, C, Members, cp, digest

MEMBERS = Members.of([A, B])
ELECTORATE = MEMBERS.electorate()


def refused(raw: bytes) -> str:
    with pytest.raises(CheckpointError) as info:
        decode_and_verify(raw, ELECTORATE.key, CONSORTIUM)
    return info.value.reason


def test_round_trip_gives_the_exact_bytes_and_value() -> None:
    signed = MEMBERS.sign(A, cp(7))
    raw = signed.encode()
    assert decode_and_verify(raw, ELECTORATE.key, CONSORTIUM) == signed
    assert set(parse(raw)) == {"cp", "org", "kid", "sig"}
    assert signed.dedup_key() == f"cp:{A}:7"


def test_checkpoint_of_a_header_names_its_hash_and_tree() -> None:
    header = BlockHeader(3, GENESIS_PREV_HASH, 5, 2, 7, digest("root"), 1, codes_digest([0, 0]))
    got = Checkpoint.of(CONSORTIUM, header)
    assert got == Checkpoint(CONSORTIUM, 3, header.hash(), 7, digest("root"))


def test_a_tampered_checkpoint_fails_its_signature() -> None:
    value = parse(MEMBERS.sign(A, cp(1)).encode())
    value["cp"]["tree_size"] += 1
    assert refused(canonical(value)) == Rejection.BAD_SIGNATURE


def test_a_signature_moved_to_another_member_fails() -> None:
    value = parse(MEMBERS.sign(A, cp(1)).encode())
    value["org"] = B  # A's kid is not one of B's keys
    assert refused(canonical(value)) == Rejection.UNKNOWN_KEY


def test_a_non_member_is_refused() -> None:
    outsider = sign_checkpoint(cp(1), C, generate_signing_key())
    assert refused(outsider.encode()) == Rejection.UNKNOWN_KEY


def test_another_consortiums_checkpoint_is_refused() -> None:
    other = MEMBERS.sign(A, cp(1, consortium=ConsortiumId(digest("other"))))
    assert refused(other.encode()) == Rejection.WRONG_CONSORTIUM


@pytest.mark.parametrize(
    "mutate",
    [
        lambda v: v.update(extra=1),
        lambda v: v["cp"].pop("tree_root"),
        lambda v: v["cp"].update(height=-1),
        lambda v: v["cp"].update(height="1"),
        lambda v: v["cp"].update(height=True),
        lambda v: v["cp"].update(tree_size=0),
        lambda v: v["cp"].update(block_hash=v["cp"]["block_hash"].upper()),
        lambda v: v.update(sig=v["sig"] + "A"),
        lambda v: v.update(org="Not An Org"),
        lambda v: v.update(kid=7),
    ],
)
def test_malformed_messages_are_refused(mutate: object) -> None:
    value = parse(MEMBERS.sign(A, cp(1)).encode())
    mutate(value)  # type: ignore[operator]
    assert refused(canonical(value)) == Rejection.MALFORMED


def test_non_canonical_spellings_and_floats_are_refused() -> None:
    value = parse(MEMBERS.sign(A, cp(1)).encode())
    assert refused(json.dumps(value, indent=1).encode()) == Rejection.MALFORMED
    assert refused(canonical(value).replace(b'"height":1', b'"height":1.0')) == Rejection.MALFORMED
    assert refused(b"x" * 4096) == Rejection.MALFORMED


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_single_byte_change_is_refused(data: st.DataObject) -> None:
    signed = MEMBERS.sign(A, cp(data.draw(st.integers(0, 10**9))))
    raw = bytearray(signed.encode())
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] = data.draw(st.integers(0, 255).filter(lambda b: b != raw[at]))
    with pytest.raises(CheckpointError):
        decode_and_verify(bytes(raw), ELECTORATE.key, CONSORTIUM)


def test_decode_without_verification_keeps_the_claimed_signer() -> None:
    outsider = sign_checkpoint(cp(2), C, generate_signing_key())
    assert decode_checkpoint(outsider.encode()).org == C
