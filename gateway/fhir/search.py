"""FHIR search parameters this gateway supports, parsed into a value: _id, patient, date, paging.

Dates are indexed and compared at day precision (YYYY-MM-DD, as written in the resource, before any
timezone shift): ``date=2020`` means the whole year, ``date=ge2020-03`` from March 1st on.
"""

from __future__ import annotations

import calendar
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from gateway.errors import BadRequestError

DEFAULT_COUNT = 20
MAX_COUNT = 100
MAX_OFFSET = 100_000
SUPPORTED = frozenset({"_id", "patient", "date", "_count", "_offset"})
"""Unknown parameters are refused (400) rather than ignored: a silently ignored filter returns more
records than the caller asked for, which for health data is a disclosure."""

_DATE = re.compile(r"^(eq|ne|gt|lt|ge|le)?(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class DateOp(enum.StrEnum):
    EQ = "eq"
    GT = "gt"
    LT = "lt"
    GE = "ge"
    LE = "le"


@dataclass(frozen=True, slots=True)
class DateBound:
    """``op`` applied to the day range [low, high] (both YYYY-MM-DD, inclusive)."""

    op: DateOp
    low: str
    high: str


@dataclass(frozen=True, slots=True)
class SearchQuery:
    type: str
    ids: tuple[str, ...] = ()
    patient: str | None = None
    dates: tuple[DateBound, ...] = ()
    count: int = DEFAULT_COUNT
    offset: int = 0


def parse_query(type_: str, params: Sequence[tuple[str, str]]) -> SearchQuery:
    """Parse query parameters (repeats allowed for ``date``). Raises BadRequestError."""
    ids: list[str] = []
    dates: list[DateBound] = []
    patient: str | None = None
    count, offset = DEFAULT_COUNT, 0
    for name, value in params:
        if name not in SUPPORTED:
            raise BadRequestError(f"unsupported search parameter {name!r}")
        if name == "_id":
            ids.extend(_ids(value))
        elif name == "patient":
            patient = patient_id(value)
        elif name == "date":
            dates.append(parse_date(value))
        elif name == "_count":
            count = min(_natural(name, value, MAX_COUNT), MAX_COUNT)
        else:
            offset = _natural(name, value, MAX_OFFSET)
    return SearchQuery(type_, tuple(ids), patient, tuple(dates), count, offset)


def _ids(value: str) -> list[str]:
    ids = value.split(",")
    if not all(FHIR_ID.fullmatch(i) for i in ids):
        raise BadRequestError("_id must be FHIR ids separated by commas")
    return ids


def patient_id(value: str) -> str:
    """``Patient/123``, ``123`` or an absolute ``.../Patient/123`` reference -> ``123``."""
    id_ = value.rsplit("/", 1)[-1]
    if value.count("/") and value.rsplit("/", 2)[-2] != "Patient":
        raise BadRequestError("patient must reference a Patient")
    if not FHIR_ID.fullmatch(id_):
        raise BadRequestError("patient must be a FHIR id or Patient reference")
    return id_


def parse_date(value: str) -> DateBound:
    """``[prefix]YYYY[-MM[-DD]]`` -> DateBound. Raises BadRequestError (``ne`` is unsupported)."""
    match = _DATE.fullmatch(value)
    if not match or match.group(1) == "ne":
        raise BadRequestError("date must be [eq|gt|lt|ge|le]YYYY[-MM[-DD]]")
    prefix, year, month, day = match.groups()
    try:
        if day is not None:
            low = high = date(int(year), int(month), int(day)).isoformat()
        elif month is not None:
            first = date(int(year), int(month), 1)
            last = calendar.monthrange(first.year, first.month)[1]
            low, high = first.isoformat(), first.replace(day=last).isoformat()
        else:
            low, high = f"{year}-01-01", f"{year}-12-31"
    except ValueError as exc:
        raise BadRequestError("date is not a calendar date") from exc
    return DateBound(DateOp(prefix or "eq"), low, high)


def _natural(name: str, value: str, limit: int) -> int:
    if not value.isdigit() or int(value) > limit * 10:
        raise BadRequestError(f"{name} must be a non-negative integer")
    return int(value)
