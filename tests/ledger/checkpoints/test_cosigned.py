"""Cosigned checkpoints as patients and auditors receive them: encoding and stand-alone checks."""

from __future__ import annotations

import pytest

from ledger.checkpoint import (
    CheckpointBook,
    Cosignature,
    CosignedCheckpoint,
    Rejection,
    decode_cosigned,
    verify_cosigned,
)
from ledger.errors import CheckpointError
from ledger.ids import ConsortiumId, OrgId
from tests.ledger.checkpoints.support import CONSORTIUM, A, B, C, Members, cp, digest

MEMBERS = Members.of([A, B, C])
ELECTORATE = MEMBERS.electorate()


def final_of(*orgs: OrgId) -> CosignedCheckpoint:
    return CosignedCheckpoint(cp(9), tuple(MEMBERS.sign(org, cp(9)).signature for org in orgs))


def reason(cosigned: CosignedCheckpoint, consortium: ConsortiumId = CONSORTIUM) -> str:
    with pytest.raises(CheckpointError) as info:
        verify_cosigned(cosigned, ELECTORATE, consortium)
    return info.value.reason


def test_the_books_final_checkpoint_verifies_after_a_round_trip() -> None:
    target = CheckpointBook(CONSORTIUM, ELECTORATE)
    target.observe_own(cp(9))
    for org in (A, B):
        target.add(MEMBERS.sign(org, cp(9)))
    final = target.final()
    assert final is not None
    again = decode_cosigned(final.encode())
    assert again == final
    assert verify_cosigned(again, ELECTORATE, CONSORTIUM) == cp(9)


def test_too_few_signers_is_no_quorum() -> None:
    assert reason(final_of(A)) == Rejection.NO_QUORUM


def test_one_member_twice_is_refused_not_counted_twice() -> None:
    assert reason(final_of(A, A)) == Rejection.MALFORMED


def test_every_signature_must_verify() -> None:
    good = final_of(A, B, C)
    bad_c = Cosignature(C, good.signatures[2].kid, good.signatures[0].sig)
    assert reason(CosignedCheckpoint(good.cp, (*good.signatures[:2], bad_c))) == (
        Rejection.BAD_SIGNATURE
    )


def test_signers_outside_the_electorate_are_refused() -> None:
    smaller = MEMBERS.electorate(orgs=[A, B])
    with pytest.raises(CheckpointError) as info:
        verify_cosigned(final_of(A, B, C), smaller, CONSORTIUM)
    assert info.value.reason == Rejection.UNKNOWN_KEY


def test_another_consortium_is_refused() -> None:
    assert reason(final_of(A, B), ConsortiumId(digest("other"))) == Rejection.WRONG_CONSORTIUM


@pytest.mark.parametrize(
    "raw",
    [
        b"{}",
        b'{"cp":{},"signatures":[]}',
        b'{"cp":1,"signatures":[],"x":1}',
        b"not json",
    ],
)
def test_malformed_cosigned_checkpoints_are_refused(raw: bytes) -> None:
    with pytest.raises(CheckpointError) as info:
        decode_cosigned(raw)
    assert info.value.reason == Rejection.MALFORMED


def test_an_empty_signature_list_decodes_but_never_verifies() -> None:
    empty = decode_cosigned(CosignedCheckpoint(cp(9), ()).encode())
    assert reason(empty) == Rejection.NO_QUORUM
