"""decide() on inputs a caller can get wrong: it denies with an error, it never raises."""

from __future__ import annotations

from typing import Any

import pytest

from policies.facts import build_facts
from policies.model import Effect, Period, Request
from policies.pdp import decide, input_digest
from policies.reasons import Denied, DenyCause
from tests.policies.support import policy

GOOD = Request("h-2", "hospital", "h-1", "pt", ("Observation",), "TREAT")


@pytest.mark.parametrize(
    ("request_", "now", "error"),
    [
        (GOOD, 2**53, "now: must be an integer within the I-JSON range (epoch ms)"),
        (GOOD, 1.5, "now: must be an integer within the I-JSON range (epoch ms)"),
        (
            Request(
                "h-2",
                "hospital",
                "h-1",
                "pt",
                ("Observation",),
                "TREAT",
                data_period=Period(0, 2**60),
            ),
            0,
            "request.data_period.end: must be an integer within the I-JSON range (epoch ms)",
        ),
        (
            Request("h-2", "hospital", "h-1", "", ("Observation",), "TREAT"),
            0,
            "request.patient_ref: must not be empty",
        ),
    ],
)
def test_bad_input_denies_with_error(request_: Request, now: Any, error: str) -> None:
    decision = decide(request_, build_facts(policy()), now)
    assert decision.effect is Effect.DENY
    assert decision.errors == (error,)
    assert decision.reasons == (Denied(DenyCause.ERROR),)
    # Integers outside I-JSON have no canonical form: no input digest. Other errors have one.
    assert (decision.input_digest == "") is ("I-JSON" in error)


def test_unencodable_string_denies() -> None:
    request = Request("h-2", "hospital", "h-1", "pt-\ud800", ("Observation",), "TREAT")
    decision = decide(request, build_facts(policy()), 0)
    assert decision.effect is Effect.DENY
    assert decision.errors[0].startswith("request: not canonical JSON")


def test_input_digest_covers_each_input() -> None:
    facts = build_facts(policy())
    base = input_digest(GOOD, facts, 0)
    assert input_digest(GOOD, facts, 1) != base
    assert (
        input_digest(Request("h-2", "hospital", "h-1", "pt", ("Condition",), "TREAT"), facts, 0)
        != base
    )
    assert input_digest(GOOD, build_facts(policy(), revoked=["c-1"]), 0) != base
    assert decide(GOOD, facts, 0).input_digest == base
