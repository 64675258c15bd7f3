"""access.record optional request fields: what a replay needs, each validated when present."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.entries import decode_entry
from ledger.state import namespaces as ns
from ledger.validation.codes import ValidationCode as C
from tests.ledger.core.world import HOSPITAL, access_body, three_orgs

FULL = {
    "requested_types": ["Claim", "Observation"],
    "consent_ref": "c1",
    "data_period": {"start": 1, "end": 2},
    "security_labels": ["R", "V"],
}


def test_request_fields_are_accepted_and_kept_in_state() -> None:
    world, chain = three_orgs()
    entry = world.entry("access.record", HOSPITAL, access_body(**FULL))
    assert chain.submit(entry) == C.VALID
    row = ns.read(chain.state, ns.ACCESS, ns.index_key(1))  # the entry after genesis
    assert row is not None
    assert row["tx_id"] == decode_entry(entry).tx_id
    assert {k: row[k] for k in FULL} == FULL


def test_break_glass_started_goes_with_break_glass() -> None:
    world, chain = three_orgs()
    ok = access_body(break_glass=True, break_glass_started=1_800_000_000_000)
    assert chain.submit(world.entry("access.record", HOSPITAL, ok)) == C.VALID
    without = access_body(break_glass=False, break_glass_started=1_800_000_000_000)
    assert chain.submit(world.entry("access.record", HOSPITAL, without)) == C.BAD_BODY


@pytest.mark.parametrize(
    "bad",
    [
        {"requested_types": []},
        {"requested_types": ["claim"]},
        {"consent_ref": "a/b"},
        {"consent_ref": None},
        {"data_period": {"start": 5, "end": 1}},
        {"data_period": {"from": 1}},
        {"data_period": {"start": -1}},
        {"security_labels": "R"},
        {"security_labels": ["R R"]},
        {"break_glass": True, "break_glass_started": "now"},
        {"unknown_field": 1},
    ],
)
def test_malformed_request_fields_are_bad_bodies(bad: dict[str, Any]) -> None:
    world, chain = three_orgs()
    assert chain.submit(world.entry("access.record", HOSPITAL, access_body(**bad))) == C.BAD_BODY
