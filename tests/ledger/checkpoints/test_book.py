"""The checkpoint book: agreement, waiting when behind, quorum finality, divergence, equivocation."""

from __future__ import annotations

import pytest

from ledger.checkpoint import (
    CheckpointBook,
    Divergence,
    DivergenceKind,
    Equivocation,
    Finding,
    Rejection,
)
from ledger.errors import CheckpointError
from ledger.ids import OrgId
from tests.ledger.checkpoints.support import CONSORTIUM, A, B, C, D, Members, cp

MEMBERS = Members.of([A, B, C, D])


def book(
    rule: str = "MAJORITY", k: int | None = None, orgs: list[OrgId] | None = None
) -> CheckpointBook:
    return CheckpointBook(CONSORTIUM, MEMBERS.electorate(rule, k, orgs or [A, B, C]))


def feed(target: CheckpointBook, height: int, signers: dict[OrgId, str]) -> list[Finding]:
    """Each org in ``signers`` signs the checkpoint at ``height`` of its fork."""
    out: list[Finding] = []
    for org, fork in signers.items():
        out.extend(target.add(MEMBERS.sign(org, cp(height, fork))))
    return out


def test_agreement_reaches_finality_with_every_agreeing_signature() -> None:
    target = book()
    assert target.observe_own(cp(1)) == []
    assert feed(target, 1, {A: "main"}) == []
    assert target.final() is None
    assert feed(target, 1, {B: "main", C: "main"}) == []
    final = target.final()
    assert final is not None
    assert final.cp == cp(1)
    assert [s.org for s in final.signatures] == sorted([A, B, C])  # by org id
    assert list(target.findings) == []


def test_checkpoints_ahead_of_our_chain_wait_for_our_block() -> None:
    target = book()
    target.observe_own(cp(1))
    assert feed(target, 2, {A: "main", B: "main", C: "fork"}) == []
    assert target.final() is None
    findings = target.observe_own(cp(2))
    final = target.final()
    assert final is not None
    assert final.height == 2
    assert [(f.kind, f.orgs) for f in findings if isinstance(f, Divergence)] == [
        (DivergenceKind.PEER, (C,))
    ]


@pytest.mark.parametrize(
    ("rule", "k", "electorate", "needed"),
    [
        ("ALL", None, 3, 3),
        ("ALL", None, 4, 4),
        ("MAJORITY", None, 3, 2),
        ("MAJORITY", None, 4, 3),
        ("K_OF_N", 1, 3, 1),
        ("K_OF_N", 2, 4, 2),
        ("K_OF_N", 4, 4, 4),
    ],
)
def test_quorum_rules_decide_how_many_cosigners_make_final(
    rule: str, k: int | None, electorate: int, needed: int
) -> None:
    orgs = [A, B, C, D][:electorate]
    target = book(rule, k, orgs)
    target.observe_own(cp(5))
    first_final = None
    for count, org in enumerate(orgs, start=1):
        feed(target, 5, {org: "main"})
        if first_final is None and target.final() is not None:
            first_final = count
    assert first_final == needed


def test_an_unreachable_k_never_finalises() -> None:
    target = book("K_OF_N", 4, [A, B, C])
    target.observe_own(cp(1))
    feed(target, 1, {A: "main", B: "main", C: "main"})
    assert target.final() is None


def test_signatures_of_members_no_longer_in_the_electorate_do_not_count() -> None:
    target = book("ALL", None, [A, B, C])
    target.observe_own(cp(1))
    feed(target, 1, {A: "main", B: "main"})
    assert target.final() is None
    target.set_electorate(MEMBERS.electorate("ALL", None, [A, B]))  # C was removed
    final = target.final()
    assert final is not None
    assert [s.org for s in final.signatures] == [A, B]


def test_an_outlier_against_a_final_chain_is_flagged_not_alarming() -> None:
    target = book()
    target.observe_own(cp(3))
    assert feed(target, 3, {C: "fork"}) == []  # undecided: A and B may still cosign ours
    findings = feed(target, 3, {A: "main", B: "main"})
    assert len(findings) == 1
    found = findings[0]
    assert isinstance(found, Divergence)
    assert (found.kind, found.height, found.orgs) == (DivergenceKind.PEER, 3, (C,))
    assert (found.ours, found.theirs) == (cp(3), cp(3, "fork"))
    assert not found.alarming
    assert target.outliers == {C}
    final = target.final()
    assert final is not None
    assert final.height == 3


def test_a_quorum_against_our_chain_says_we_diverged() -> None:
    target = book()
    target.observe_own(cp(4, "ours"))
    assert feed(target, 4, {A: "main"}) == []  # one dissenter and one silent member: undecided
    findings = feed(target, 4, {B: "main"})
    assert len(findings) == 1
    found = findings[0]
    assert isinstance(found, Divergence)
    assert (found.kind, found.orgs, found.local, found.alarming) == (
        DivergenceKind.LOCAL,
        (A, B),
        True,
        True,
    )
    assert found.describe()["their_block_hash"] == cp(4).block_hash
    assert [s.org for s in found.evidence] == [A, B]
    assert target.final() is None
    assert feed(target, 4, {C: "main"}) == []  # already settled: reported once


def test_a_split_no_quorum_can_settle_is_alarming() -> None:
    target = book("ALL", None, [A, B, C])
    target.observe_own(cp(2))
    findings = feed(target, 2, {A: "main", B: "other"})
    assert [(f.kind, f.orgs, f.alarming) for f in findings if isinstance(f, Divergence)] == [
        (DivergenceKind.SPLIT, (B,), True)
    ]
    assert target.final() is None


def test_a_member_signing_two_checkpoints_for_one_height_equivocates() -> None:
    target = book()
    target.observe_own(cp(6))
    first, second = MEMBERS.sign(B, cp(6)), MEMBERS.sign(B, cp(6, "fork"))
    assert target.add(first) == []
    findings = target.add(second)
    assert findings == [Equivocation(B, 6, first, second)]
    assert findings[0].alarming
    assert findings[0].describe()["second_block_hash"] == cp(6, "fork").block_hash
    assert target.add(MEMBERS.sign(B, cp(6, "third"))) == []  # evidence kept once
    assert target.add(MEMBERS.sign(B, cp(6))) == []  # a re-send of the first: no finding


def test_far_future_and_pruned_heights_are_refused() -> None:
    target = CheckpointBook(CONSORTIUM, MEMBERS.electorate(orgs=[A, B, C]), max_ahead=10, retain=2)
    target.observe_own(cp(0))
    with pytest.raises(CheckpointError) as ahead:
        target.add(MEMBERS.sign(A, cp(11)))
    assert ahead.value.reason == Rejection.TOO_FAR_AHEAD
    target.observe_own(cp(5))
    feed(target, 5, {A: "main", B: "main"})
    with pytest.raises(CheckpointError) as stale:
        target.add(MEMBERS.sign(C, cp(2)))
    assert stale.value.reason == Rejection.STALE
    assert not target.needs_own(2)
    assert target.needs_own(4)


def test_finality_never_moves_back() -> None:
    target = book()
    for height in (1, 2):
        target.observe_own(cp(height))
    feed(target, 2, {A: "main", B: "main"})
    feed(target, 1, {A: "main", B: "main"})
    final = target.final()
    assert final is not None
    assert final.height == 2
