"""Golden decision tables: each JSON case gives request, facts and now, and the expected decision."""

from __future__ import annotations

from typing import Any

import pytest

from policies.pdp import decide
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
        "reasons": list(decision.reasons),
        "obligations": list(decision.obligations),
        "errors": list(decision.errors),
    }
    assert got == {**expect, "errors": expect.get("errors", [])}, case["description"]
    assert decision.policy_version == "2026.1"
    assert len(decision.input_digest) == 64
