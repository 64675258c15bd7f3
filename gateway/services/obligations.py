"""The one enforcement point: (decision, stored rows) -> the bytes released, for every route.

Query, deliver and any later route (bulk, subscriptions) call `released` and nothing else, so the
same decision over the same records releases the same bytes whichever way they leave. The
decision's obligations are matched by type (policies.obligations): `ReferencedOnly` keeps a
referenced type (Patient for an insurer's claims) only where a primary resource references it;
`Exclude` drops what lies in a data part (a security label, a period, a code, a reference) and
`Limit` keeps only what surely lies in it (a resource whose date or codes cannot be read is dropped
either way: fail closed); `Deidentify` runs `policies.deidentify_bundle` last. `Audit`,
`NotifyPatient` and `BreakGlassUntil` act around the release, not on its data. An obligation this
module does not know releases nothing, as does a decision that is not a permit.

Entries are ordered by (type, id) and only the permitted types pass. Without data obligations
the stored bytes are concatenated untouched: the hot path never parses them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.fhir.index import date_of
from policies import (
    Audit,
    BreakGlassUntil,
    ContentCode,
    DataPart,
    DataPeriod,
    DataReference,
    Decision,
    Deidentify,
    Effect,
    Exclude,
    Limit,
    NotifyPatient,
    Obligation,
    ReferencedOnly,
    SecurityLabel,
)
from policies.deidentify import Pseudonym, deidentify_bundle

Filter = Exclude | Limit


@dataclass(frozen=True, slots=True)
class Row:
    """One stored resource to release: type, id, the exact stored bytes, its index date."""

    type: str
    id: str
    body: bytes
    date: str | None


@dataclass(frozen=True, slots=True)
class Audience:
    """What a release needs besides the decision and the rows: the custodian's base URL (entries'
    `fullUrl` is `<base>/fhir/<type>/<id>`), the rule's referenced types, and the keyed
    pseudonym for this recipient (used under `Deidentify`)."""

    base: str
    referenced_types: frozenset[str]
    pseudonym: Pseudonym
    year: int
    """The release's calendar year (UTC, from the gateway's clock): de-identification judges
    ages against it."""


@dataclass(slots=True)
class _Plan:
    referenced_only: bool = False
    deidentify: bool = False
    filters: tuple[Filter, ...] = ()

    @property
    def touches_data(self) -> bool:
        return self.referenced_only or self.deidentify or bool(self.filters)


def _plan(obligations: Iterable[Obligation]) -> _Plan | None:
    """What the obligations do to the data; None when one of them is not known here."""
    plan = _Plan()
    for obligation in obligations:
        match obligation:
            case Audit() | NotifyPatient() | BreakGlassUntil():
                pass  # honoured around the release (the access.record, the patient's log)
            case ReferencedOnly():
                plan.referenced_only = True
            case Deidentify():
                plan.deidentify = True
            case Exclude() | Limit():
                plan.filters += (obligation,)
            case _:
                return None
    return plan


def released(decision: Decision, rows: Iterable[Row], audience: Audience) -> bytes:
    """The searchset Bundle that leaves under ``decision`` (the empty one unless it permits)."""
    plan = _plan(decision.obligations)
    if decision.effect is not Effect.PERMIT or plan is None:
        return _concatenated([], audience.base)
    permitted = frozenset(decision.permitted_types)
    kept = sorted((r for r in rows if r.type in permitted), key=lambda r: (r.type, r.id))
    if not plan.touches_data:
        return _concatenated(kept, audience.base)
    parsed = [(row, orjson.loads(row.body)) for row in kept]
    if plan.referenced_only:
        parsed = _referenced_only(parsed, audience.referenced_types)
    for rule in plan.filters:
        parsed = [(r, d) for r, d in parsed if _kept(rule, r, d)]
    bundle = _bundle([(f"{audience.base}/fhir/{r.type}/{r.id}", d) for r, d in parsed])
    if plan.deidentify:
        bundle = deidentify_bundle(bundle, audience.pseudonym, audience.year)
    return orjson.dumps(bundle)


def header_value(obligations: Iterable[Obligation]) -> str:
    """``X-Medgate-Obligations``: the codes, sorted, joined by ","; in each code "%", "," and every
    byte outside visible ASCII are percent-encoded (UTF-8), so any code survives the header."""
    return ",".join(sorted(_header_safe(o.code) for o in obligations))


def _header_safe(code: str) -> str:
    if all(33 <= ord(c) <= 126 and c not in "%," for c in code):
        return code  # the common case: every code of the default policy
    return "".join(
        chr(b) if 33 <= b <= 126 and chr(b) not in "%," else f"%{b:02X}" for b in code.encode()
    )


def rows_of_bundle(bundle: dict[str, Any]) -> list[Row]:
    """The resources of a client's Bundle as rows, encoded and indexed as the store does, so a
    delivered Bundle is released exactly as the same stored records would be."""
    rows = []
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
            rid = resource.get("id")
            body = orjson.dumps(resource)
            rows.append(Row(resource["resourceType"], str(rid or ""), body, date_of(resource)))
    return rows


def _concatenated(rows: Sequence[Row], base: str) -> bytes:
    head = orjson.dumps({"resourceType": "Bundle", "type": "searchset", "total": len(rows)})
    entries = b",".join(
        b'{"fullUrl":'
        + orjson.dumps(f"{base}/fhir/{row.type}/{row.id}")
        + b',"resource":'
        + row.body
        + b"}"
        for row in rows
    )
    return head[:-1] + b',"entry":[' + entries + b"]}"


def _bundle(entries: list[tuple[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "entry": [{"fullUrl": url, "resource": data} for url, data in entries],
    }


def references(value: Any) -> set[str]:
    """Every ``reference`` string inside a resource (relative ``Type/id`` form kept as written)."""
    found: set[str] = set()
    stack = [value]
    while stack:  # bounded by the size of the parsed document
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("reference")
            if isinstance(ref, str):
                found.add("/".join(ref.split("/")[-2:]))  # absolute URL -> Type/id
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _referenced_only(
    parsed: list[tuple[Row, Any]], referenced_types: frozenset[str]
) -> list[tuple[Row, Any]]:
    wanted: set[str] = set()
    for row, data in parsed:
        if row.type not in referenced_types:
            wanted |= references(data)
    return [
        (r, d) for r, d in parsed if r.type not in referenced_types or f"{r.type}/{r.id}" in wanted
    ]


def _kept(rule: Filter, row: Row, data: Any) -> bool:
    matches = _matches(rule.part, row, data)
    if matches is None:  # cannot tell: a limit keeps only what surely matches, an exclusion drops
        return False
    return matches if isinstance(rule, Limit) else not matches


def _matches(part: DataPart, row: Row, data: Any) -> bool | None:
    match part:
        case SecurityLabel(label):
            return label in _labels(data)
        case DataPeriod(period):
            day = _day_ms(row.date)
            return None if day is None else period.contains(day)
        case ContentCode(coding):
            return coding in _codings(data)
        case DataReference(_, reference):
            return reference == f"{row.type}/{row.id}" or reference in references(data)
        case _:
            return None


def _labels(data: Any) -> set[str]:
    meta = data.get("meta") if isinstance(data, dict) else None
    labels = meta.get("security") if isinstance(meta, dict) else None
    return {
        c["code"] for c in labels or () if isinstance(c, dict) and isinstance(c.get("code"), str)
    }


def _codings(value: Any) -> set[str]:
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            system, code = item.get("system"), item.get("code")
            if isinstance(system, str) and isinstance(code, str):
                found.add(f"{system}|{code}")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _day_ms(day: str | None) -> int | None:
    """The resource's index day (YYYY-MM-DD) in epoch ms; None when it has none."""
    if day is None:
        return None
    try:
        return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)
    except ValueError:
        return None
