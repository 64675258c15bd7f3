"""The demo's own checks: identifiers are found whatever their case and wherever they sit, and the
audit step wants exactly the accesses the walkthrough made, each proven."""

from __future__ import annotations

from typing import Any

from gateway.demo.checks import Access, compare_log, identifier_hits
from gateway.demo.synthetic import PATIENTS

P = PATIENTS[2]
IDENTIFYING = (P.family, P.given, P.mrn, P.phone)


def test_an_mrn_inside_a_lowercase_resource_id_is_found() -> None:
    """The case the demo's check missed: the MRN-0003 of the identifier as mrn-0003 in ids."""
    released = {
        "resourceType": "Bundle",
        "entry": [
            {
                "fullUrl": "Condition/cond-pat-mrn-0003",
                "resource": {"resourceType": "Condition", "id": "cond-pat-mrn-0003"},
            }
        ],
    }
    assert identifier_hits(released, IDENTIFYING) == ["MRN-0003"]


def test_values_are_found_in_keys_and_at_any_depth_in_any_case() -> None:
    assert identifier_hits({"JULES": 1}, IDENTIFYING) == ["Jules"]
    deep = {"a": [{"b": [["note: call MARLOWE at +1-555-0103"]]}], "n": 3, "x": None}
    assert identifier_hits(deep, IDENTIFYING) == ["Marlowe", "+1-555-0103"]


def test_a_clean_release_has_no_hits() -> None:
    clean = {"resourceType": "Condition", "id": "c-1f3a", "subject": {"reference": "Patient/p-9"}}
    assert identifier_hits(clean, IDENTIFYING) == []


def entry(tx: str, proven: bool = True) -> dict[str, Any]:
    return {"tx_id": tx, "proof": {"hashes": []} if proven else None}


MADE = [Access("insurer-c HPAYMT Claim", "aa" * 32), Access("after revocation", "bb" * 32)]


def test_the_log_must_show_exactly_the_accesses_made() -> None:
    exact = compare_log(MADE, [entry("aa" * 32), entry("BB" * 32)])
    assert exact.ok
    assert (exact.made, exact.shown, exact.problems()) == (2, 2, [])


def test_a_missing_denial_fails_the_audit_step_and_is_named() -> None:
    """The demo's audit step used to pass with the denial after revocation missing."""
    short = compare_log(MADE, [entry("aa" * 32)])
    assert not short.ok
    assert short.missing == (MADE[1],)
    assert "missing from the log: after revocation" in "\n".join(short.problems())


def test_extra_duplicate_unproven_or_unrecorded_accesses_fail() -> None:
    extra = compare_log(MADE, [entry("aa" * 32), entry("bb" * 32), entry("cc" * 32)])
    assert (extra.ok, extra.extra) == (False, ("cc" * 32,))
    twice = compare_log(MADE, [entry("aa" * 32), entry("bb" * 32), entry("bb" * 32)])
    assert not twice.ok
    assert "3 log entries, 2 made" in twice.problems()
    pending = compare_log(MADE, [entry("aa" * 32), entry("bb" * 32, proven=False)])
    assert (pending.ok, pending.unproven) == (False, ("bb" * 32,))
    unrecorded = compare_log([*MADE, Access("no tx returned", None)], [entry("aa" * 32)])
    assert not unrecorded.ok
    assert "no tx returned (tx not returned)" in "\n".join(unrecorded.problems())
