"""The patient's words: every typed reason of policies.reasons, every purpose the policy knows and
every stored resource type has words; unknown codes are shown as codes, never hidden."""

from __future__ import annotations

import pytest

from gateway.fhir.validation import SUPPORTED_TYPES
from gateway.services import vocabulary as words
from policies import default_policy
from policies.reasons import (
    BreakGlassUsed,
    ConsentApplied,
    Denied,
    DenyCause,
    GrantApplied,
    RuleApplied,
    Withheld,
    WithheldCause,
)


def test_every_deny_and_withheld_cause_has_words() -> None:
    assert set(words.DENY_CAUSES) == set(DenyCause)
    assert set(words.WITHHELD_CAUSES) == set(WithheldCause)
    for cause in DenyCause:
        said = words.reason_words(Denied(cause).code)
        assert said == words.DENY_CAUSES[cause]
        assert "-" not in said  # words, not the code


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        (Denied(DenyCause.NO_CONSENT), "you have not given consent for this"),
        (BreakGlassUsed(), "emergency (break-glass) access"),
        (ConsentApplied("c-1"), "allowed by your consent"),
        (GrantApplied("g-1"), "allowed by the record holder's authorisation"),
        (
            RuleApplied("insurer", "HPAYMT"),
            "the consortium's rule for paying for your care (insurance claims)",
        ),
        (
            Withheld("Observation", WithheldCause.CONSENT),
            "test results and measurements were held back: your consent forbids it",
        ),
    ],
)
def test_reasons_in_words(reason: object, said: str) -> None:
    assert words.reason_words(reason.code) == said  # type: ignore[attr-defined]


def test_every_policy_purpose_and_stored_type_has_words() -> None:
    purposes = {purpose for _, purpose in default_policy().rules}
    assert purposes <= set(words.PURPOSES)
    assert set(SUPPORTED_TYPES) <= set(words.RESOURCE_KINDS)


def test_unknown_codes_are_shown_as_codes() -> None:
    assert words.purpose_words("XYZ") == "XYZ (code)"
    assert words.reason_words("deny:brand-new") == "deny:brand-new (code)"
    assert words.kinds_words(["Claim", "Spaceship"]) == "insurance claims, Spaceship (code)"
    assert words.decision_reason("deny", None, by_consent=False, by_grant=False) == (
        "no reason was recorded"
    )
    assert words.decision_reason("permit", None, by_consent=True, by_grant=False) == (
        "allowed by your consent"
    )
