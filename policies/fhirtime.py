"""FHIR R4 date and dateTime strings to epoch-millisecond bounds (pure: parsing only, no clock).

A FHIR date of lower precision denotes the whole range it covers ("2015" is all of 2015), so a
value has a first millisecond and a first millisecond after it. Periods here are half-open
[start, end): a FHIR Period's end is inclusive, so its end bound is the *upper* bound of its value.
Dates without a time zone are read as UTC, the consortium's reference (FHIR leaves them local).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from policies.errors import FactsError

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_MS = 1000


def lower_ms(value: object, path: str) -> int:
    """First epoch millisecond covered by FHIR date/dateTime `value`. Raises FactsError."""
    return _bounds(value, path)[0]


def upper_ms(value: object, path: str) -> int:
    """First epoch millisecond after FHIR date/dateTime `value`. Raises FactsError."""
    return _bounds(value, path)[1]


def _bounds(value: object, path: str) -> tuple[int, int]:
    if not isinstance(value, str):
        raise FactsError(path, "must be a FHIR date or dateTime string")
    match = _DATE.match(value)
    try:
        if match:
            return _date_bounds(int(match[1]), match[2], match[3])
        if "T" not in value:
            raise ValueError(value)
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise FactsError(path, f"not a FHIR date or dateTime: {value!r}") from exc
    if moment.tzinfo is None:
        raise FactsError(path, "a FHIR dateTime with a time must carry a time zone")
    start = _ms(moment)
    return start, start + 1


def _date_bounds(year: int, month: str | None, day: str | None) -> tuple[int, int]:
    if month is None:
        return _ms(datetime(year, 1, 1, tzinfo=UTC)), _ms(datetime(year + 1, 1, 1, tzinfo=UTC))
    first = datetime(year, int(month), 1, tzinfo=UTC)
    if day is None:
        after = datetime(year + (first.month == 12), first.month % 12 + 1, 1, tzinfo=UTC)
        return _ms(first), _ms(after)
    start = first.replace(day=int(day))
    return _ms(start), _ms(start + timedelta(days=1))


def _ms(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _MS + delta.microseconds // 1000
