"""FHIR date and dateTime bounds in epoch milliseconds."""

from __future__ import annotations

import pytest

from policies.errors import FactsError
from policies.fhirtime import lower_ms, upper_ms

DAY = 86_400_000


@pytest.mark.parametrize(
    ("value", "lower", "upper"),
    [
        ("1970", 0, 365 * DAY),
        ("1970-02", 31 * DAY, 59 * DAY),
        ("1970-12", 334 * DAY, 365 * DAY),
        ("1970-01-02", DAY, 2 * DAY),
        ("1970-01-01T01:00:00Z", 3_600_000, 3_600_001),
        ("1970-01-01T01:00:00+01:00", 0, 1),
        ("1970-01-01T00:00:00.250Z", 250, 251),
    ],
)
def test_bounds(value: str, lower: int, upper: int) -> None:
    assert lower_ms(value, "p") == lower
    assert upper_ms(value, "p") == upper


@pytest.mark.parametrize(
    "value", ["1970-01-01T01:00:00", "yesterday", "1970-13", 1970, "1970-02-30"]
)
def test_refused(value: object) -> None:
    with pytest.raises(FactsError) as info:
        lower_ms(value, "provision.period.start")
    assert info.value.path == "provision.period.start"
