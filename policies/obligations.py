"""The closed vocabulary of obligations a decision carries: typed values with parameters.

An obligation is what the custodian's gateway must do when it releases under a permit (or, for
`Audit` and `NotifyPatient`, around it). Each has a stable code (its `code` property), which is
what the decision digest, the `access.record` and the `X-Medgate-Obligations` header carry; the
codes are those of earlier releases, so recorded decisions replay to the same digest.

    audit                        Audit()
    notify-patient               NotifyPatient()
    deidentify                   Deidentify()
    referenced-only              ReferencedOnly()
    break-glass-until:<ms>       BreakGlassUntil(until)
    redact:<label>               Exclude(SecurityLabel(label))
    exclude-period:<s>/<e>       Exclude(DataPeriod(period))    epoch ms, `..` for an open side
    exclude-code:<system|code>   Exclude(ContentCode(coding))
    exclude-data:<meaning>:<ref> Exclude(DataReference(meaning, reference))
    limit-label: / limit-period: / limit-code: / limit-data:   Limit(<the same parts>)

`parse_obligation` is the inverse of `code`: it refuses (ObligationError) what is not in the list.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.coded import Coded
from policies.errors import ObligationError
from policies.model import Period


class Obligation(Coded):
    """Base of every obligation: equal, hashed and sorted by `code`."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, eq=False)
class Audit(Obligation):
    def _render(self) -> str:
        return "audit"


@dataclass(frozen=True, slots=True, eq=False)
class NotifyPatient(Obligation):
    def _render(self) -> str:
        return "notify-patient"


@dataclass(frozen=True, slots=True, eq=False)
class Deidentify(Obligation):
    def _render(self) -> str:
        return "deidentify"


@dataclass(frozen=True, slots=True, eq=False)
class ReferencedOnly(Obligation):
    """Referenced types travel only where a primary resource of the release references them."""

    def _render(self) -> str:
        return "referenced-only"


@dataclass(frozen=True, slots=True, eq=False)
class BreakGlassUntil(Obligation):
    until: int  # epoch ms: the break-glass window closes then

    def _render(self) -> str:
        return f"break-glass-until:{self.until}"


# A part of the data, selected by a data-level condition of a consent provision; its code is
# `<kind>:<value>`.
@dataclass(frozen=True, slots=True, eq=False)
class SecurityLabel(Coded):
    label: str

    def _render(self) -> str:
        return f"label:{self.label}"


@dataclass(frozen=True, slots=True, eq=False)
class DataPeriod(Coded):
    period: Period

    def _render(self) -> str:
        return f"period:{self.period.label()}"


@dataclass(frozen=True, slots=True, eq=False)
class ContentCode(Coded):
    coding: str  # "system|code"

    def _render(self) -> str:
        return f"code:{self.coding}"


@dataclass(frozen=True, slots=True, eq=False)
class DataReference(Coded):
    meaning: str
    reference: str

    def _render(self) -> str:
        return f"data:{self.meaning}:{self.reference}"


DataPart = SecurityLabel | DataPeriod | ContentCode | DataReference


@dataclass(frozen=True, slots=True, eq=False)
class Exclude(Obligation):
    """Withhold every resource in `part` (a resource that cannot be told apart is withheld)."""

    part: DataPart

    def _render(self) -> str:
        if isinstance(self.part, SecurityLabel):
            return f"redact:{self.part.label}"  # the historical name of excluding a label
        return f"exclude-{self.part.code}"


@dataclass(frozen=True, slots=True, eq=False)
class Limit(Obligation):
    """Release only resources surely in `part` (the permit rests on a consent limited to it)."""

    part: DataPart

    def _render(self) -> str:
        return f"limit-{self.part.code}"


AUDIT = Audit()
NOTIFY_PATIENT = NotifyPatient()
DEIDENTIFY = Deidentify()
REFERENCED_ONLY = ReferencedOnly()
_SIMPLE: dict[str, Obligation] = {
    o.code: o for o in (AUDIT, NOTIFY_PATIENT, DEIDENTIFY, REFERENCED_ONLY)
}


def parse_part(text: str) -> DataPart | None:
    """The data part `<kind>:<value>` names (as a part's `code` writes it); None if malformed."""
    kind, _, value = text.partition(":")
    if not value:
        return None
    if kind == "label":
        return SecurityLabel(value)
    if kind == "code":
        return ContentCode(value)
    if kind == "data":
        meaning, _, reference = value.partition(":")
        return DataReference(meaning, reference) if meaning and reference else None
    if kind == "period":
        return _period_part(value)
    return None


def _period_part(value: str) -> DataPart | None:
    start, sep, end = value.partition("/")
    try:
        sides = [None if s == ".." else int(s) for s in (start, end)]
    except ValueError:
        return None
    return DataPeriod(Period(sides[0], sides[1])) if sep else None


def parse_obligation(code: str) -> Obligation:
    """The obligation `code` names. Raises ObligationError outside the vocabulary."""
    simple = _SIMPLE.get(code)
    if simple is not None:
        return simple
    kind, _, value = code.partition(":")
    part: DataPart | None = None
    found: Obligation | None = None
    if kind == "break-glass-until" and value.isdigit():
        found = BreakGlassUntil(int(value))
    elif kind == "redact" and value:
        found = Exclude(SecurityLabel(value))
    elif kind.startswith("exclude-") and (part := parse_part(f"{kind[8:]}:{value}")):
        found = Exclude(part)
    elif kind.startswith("limit-") and (part := parse_part(f"{kind[6:]}:{value}")):
        found = Limit(part)
    if found is None or found.code != code:  # the code must be the canonical spelling
        raise ObligationError(code)
    return found
