"""The closed vocabularies of obligations and reasons: codes and typed values map one to one, and
anything else is refused."""

from __future__ import annotations

import pytest

from policies import (
    AUDIT,
    REFERENCED_ONLY,
    BreakGlassUntil,
    ConsentApplied,
    ContentCode,
    DataPeriod,
    DataReference,
    Denied,
    DenyCause,
    Exclude,
    Limit,
    ObligationError,
    Period,
    ReasonError,
    RuleApplied,
    SecurityLabel,
    Withheld,
    WithheldCause,
    parse_obligation,
    parse_reason,
)

OBLIGATIONS = [
    ("audit", AUDIT),
    ("referenced-only", REFERENCED_ONLY),
    ("break-glass-until:1780286400000", BreakGlassUntil(1780286400000)),
    ("redact:PSY", Exclude(SecurityLabel("PSY"))),
    ("limit-label:N", Limit(SecurityLabel("N"))),
    ("exclude-period:1420070400000/..", Exclude(DataPeriod(Period(1420070400000, None)))),
    ("limit-period:../5", Limit(DataPeriod(Period(None, 5)))),
    ("exclude-code:http://loinc.org|11488-4", Exclude(ContentCode("http://loinc.org|11488-4"))),
    ("exclude-data:related:Task/example3", Exclude(DataReference("related", "Task/example3"))),
]


@pytest.mark.parametrize(("code", "value"), OBLIGATIONS, ids=[c for c, _ in OBLIGATIONS])
def test_obligation_codes_and_values_map_one_to_one(code: str, value: object) -> None:
    assert parse_obligation(code) == value
    assert parse_obligation(code).code == code


@pytest.mark.parametrize(
    "code",
    [
        "",
        "shred",
        "audit:x",
        "redact:",
        "exclude-label:PSY",  # a label is excluded by its historical name, redact:
        "exclude-colour:red",
        "limit-period:1/2/3",
        "limit-period:x/..",
        "break-glass-until:-1",
        "break-glass-until:007",
        "exclude-data:related",
    ],
)
def test_codes_outside_the_obligation_vocabulary_are_refused(code: str) -> None:
    with pytest.raises(ObligationError) as caught:
        parse_obligation(code)
    assert caught.value.code == code


REASONS = [
    ("policy:insurer/HPAYMT", RuleApplied("insurer", "HPAYMT")),
    ("consent:c1", ConsentApplied("c1")),
    ("withheld:Coverage:no-basis", Withheld("Coverage", WithheldCause.NO_BASIS)),
    ("deny:consent-ref-not-applicable", Denied(DenyCause.CONSENT_REF_NOT_APPLICABLE)),
]


@pytest.mark.parametrize(("code", "value"), REASONS, ids=[c for c, _ in REASONS])
def test_reason_codes_and_values_map_one_to_one(code: str, value: object) -> None:
    assert parse_reason(code) == value


@pytest.mark.parametrize("code", ["deny:tuesday", "withheld:Claim:whim", "policy:x", "consent:"])
def test_codes_outside_the_reason_vocabulary_are_refused(code: str) -> None:
    with pytest.raises(ReasonError):
        parse_reason(code)


def test_values_sort_by_code() -> None:
    assert sorted([REFERENCED_ONLY, Exclude(SecurityLabel("A")), AUDIT]) == [
        AUDIT,
        Exclude(SecurityLabel("A")),
        REFERENCED_ONLY,
    ]
