"""Type confusion inside bodies is a refusal, and a validator bug is a code: never an exception."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from ledger.ids import OrgId
from ledger.statekv import StateChange
from ledger.validation.codes import ValidationCode as C
from ledger.validation.context import Ctx
from ledger.validation.registry import REGISTRY
from tests.ledger.core.world import (
    AGENCY,
    HOSPITAL,
    INSURER,
    access_body,
    consent_body,
    three_orgs,
)

NEW = OrgId("hospital-d")


def _member_add(world: Any, **override: Any) -> bytes:
    world.add_org(NEW, "hospital")
    record = {**world.record(NEW), **override}
    return world.entry("member.add", HOSPITAL, {"member": record}, endorsers=[AGENCY])


@pytest.mark.parametrize("kind", [[], {}, ["permit"], {"permit": 1}, None, 1, True])
def test_wrong_kinds_where_a_closed_set_belongs_are_bad_bodies(kind: object) -> None:
    world, chain = three_orgs()
    leaves = {
        "access decision": world.entry("access.record", HOSPITAL, access_body(decision=kind)),
        "grantee role": world.entry(
            "consent.grant", HOSPITAL, consent_body(grantee={"role": kind})
        ),
        "quorum rule": world.entry(
            "policy.set",
            HOSPITAL,
            {"version": "v2", "digest": "b" * 64, "quorum": {"rule": kind}},
            endorsers=[INSURER, AGENCY],
        ),
        "member role": _member_add(world, role=kind),
        "member endpoint": _member_add(world, endpoint="http://[::1"),
    }
    before = chain.rows()
    for name, leaf in leaves.items():
        assert chain.submit(leaf) == C.BAD_BODY, name
    assert chain.rows() == before
    assert chain.submit(world.entry("access.record", HOSPITAL, access_body())) == C.VALID


def test_a_rule_that_raises_records_a_validator_fault_and_the_chain_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug we did not foresee, planted in the access.record rule: the entry gets VALIDATOR_FAULT,
    changes no state, the fault is logged at ERROR without the body, and the next entries commit."""
    world, chain = three_orgs()

    def buggy(ctx: Ctx) -> list[StateChange]:
        return [StateChange("access", "x", bytes([len(ctx.entry.body) // 0]))]

    spec = dataclasses.replace(REGISTRY["access.record"], rule=buggy)
    monkeypatch.setitem(REGISTRY, "access.record", spec)
    before = chain.rows()
    with caplog.at_level(logging.ERROR, logger="medgate.ledger.validation"):
        code = chain.submit(world.entry("access.record", HOSPITAL, access_body()))
    assert code == C.VALIDATOR_FAULT
    assert chain.rows() == before
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exception == "ZeroDivisionError"  # type: ignore[attr-defined]
    assert "insurer-b" not in record.getMessage()
    monkeypatch.undo()
    assert chain.submit(world.entry("access.record", HOSPITAL, access_body())) == C.VALID
