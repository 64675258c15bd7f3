"""Golden decision tables: each JSON case gives request, facts and now, and the expected decision.

The tables spell reasons and obligations by their codes; the decision holds them as typed values of
the closed vocabularies, and every code parses back to exactly the value the decision holds."""

from __future__ import annotations

from typing import Any

import pytest

from policies.obligations import Obligation, parse_obligation
from policies.pdp import decide
from policies.reasons import Reason, parse_reason
from tests.policies.support import epoch_ms, facts_of, golden_cases, request_of

CASES = golden_cases()


def test_there_are_enough_golden_cases() -> None:
    assert len(CASES) >= 40
    assert len({c["name"] for c in CASES}) == len(CASES)
    fhir = {c["source"].split()[4] for c in CASES if "source" in c}
    assert len(fhir) >= 12  # the R4 Consent examples rewritten as cases


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_case(case: dict[str, Any]) -> None:
    decision = decide(request_of(case["request"]), facts_of(case["facts"]), epoch_ms(case["now"]))
    expect = case["expect"]
    got = {
        "effect": decision.effect.value,
        "permitted_types": list(decision.permitted_types),
        "reasons": list(decision.reason_codes),
        "obligations": list(decision.obligation_codes),
        "errors": list(decision.errors),
    }
    assert got == {**expect, "errors": expect.get("errors", [])}, case["description"]
    assert decision.policy_version == "2026.1"
    assert len(decision.input_digest) == 64
    for obligation in decision.obligations:
        assert isinstance(obligation, Obligation)
        assert parse_obligation(obligation.code) == obligation
    for reason in decision.reasons:
        assert isinstance(reason, Reason)
        assert parse_reason(reason.code) == reason
    assert decision.to_json()["obligations"] == expect["obligations"]
