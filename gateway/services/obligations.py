"""What a permit's obligations do to the released resources (pure: rows in, bundle bytes out).

The policy decides; this module carries the decision out on the data. Narrowing to the permitted
types happens at the fetch. Here: ``referenced-only`` keeps a referenced type (Patient for an
insurer's claims) only where a primary resource references it; ``redact:<label>`` drops resources
carrying that security label; ``exclude-*`` / ``limit-*`` drop resources by date, code or reference
(a resource whose date or codes cannot be read is dropped by an exclusion it might match: fail
closed); ``deidentify`` runs `policies.deidentify` over the whole bundle. An obligation this module
does not know withholds everything. Without data obligations the stored bytes are concatenated
untouched (the hot path never parses them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from policies import deidentify

NO_DATA_EFFECT = frozenset({"audit", "notify-patient"})
BREAK_GLASS_PREFIX = "break-glass-until:"
REFERENCED_ONLY = "referenced-only"
DEIDENTIFY = "deidentify"
FILTER_PREFIXES = ("redact:", "exclude-", "limit-")


@dataclass(frozen=True, slots=True)
class Row:
    """One stored resource to release: type, id, the exact stored bytes, its index date."""

    type: str
    id: str
    body: bytes
    date: str | None


Pseudonym = Callable[[str], str]


def data_obligations(obligations: Iterable[str]) -> list[str]:
    """The obligations that change what is released."""
    return [
        o for o in obligations if o not in NO_DATA_EFFECT and not o.startswith(BREAK_GLASS_PREFIX)
    ]


def release_bundle(
    rows: Sequence[Row],
    obligations: Sequence[str],
    *,
    base: str,
    referenced_types: frozenset[str],
    pseudonym: Pseudonym,
) -> bytes:
    """The searchset Bundle released under ``obligations``. Requires ``rows`` already narrowed to
    the permitted types."""
    todo = data_obligations(obligations)
    if not todo:
        return _concatenated(rows, base)
    if any(not _known(o) for o in todo):
        return _concatenated([], base)  # an obligation we cannot honour: release nothing
    parsed = [(row, orjson.loads(row.body)) for row in rows]
    for obligation in todo:
        if obligation == REFERENCED_ONLY:
            parsed = _referenced_only(parsed, referenced_types)
        elif obligation != DEIDENTIFY:
            parsed = [(r, d) for r, d in parsed if _kept(obligation, r, d)]
    bundle = _bundle([(f"{base}/fhir/{r.type}/{r.id}", d) for r, d in parsed])
    if DEIDENTIFY in todo:
        bundle = deidentify(bundle, pseudonym)
    return orjson.dumps(bundle)


def _known(obligation: str) -> bool:
    return obligation in (REFERENCED_ONLY, DEIDENTIFY) or obligation.startswith(FILTER_PREFIXES)


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
    primary = [(r, d) for r, d in parsed if r.type not in referenced_types]
    wanted: set[str] = set()
    for _, data in primary:
        wanted |= references(data)
    follow = [
        (r, d) for r, d in parsed if r.type in referenced_types and f"{r.type}/{r.id}" in wanted
    ]
    return primary + follow


def _kept(obligation: str, row: Row, data: Any) -> bool:
    kind, _, arg = obligation.partition(":")
    if kind == "redact":
        return arg not in _labels(data)
    limit = kind.startswith("limit-")
    matches = _matches(kind.removeprefix("limit-").removeprefix("exclude-"), arg, row, data)
    if (
        matches is None
    ):  # cannot tell: a limit keeps only what surely matches, an exclusion drops it
        return False
    return matches if limit else not matches


def _matches(what: str, arg: str, row: Row, data: Any) -> bool | None:
    if what == "label":
        return arg in _labels(data)
    if what == "period":
        return _in_period(row.date, arg)
    if what == "code":
        return arg in _codings(data)
    if what == "data":
        ref = arg.split(":", 1)[-1]
        return ref == f"{row.type}/{row.id}" or ref in references(data)
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


def _in_period(day: str | None, label: str) -> bool | None:
    """Whether the resource's day lies in ``<start>/<end>`` (epoch ms, ``..`` open); None: no date."""
    if day is None:
        return None
    try:
        ms = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)
        start, end = (None if side == ".." else int(side) for side in label.split("/", 1))
    except ValueError:
        return None
    return (start is None or start <= ms) and (end is None or ms < end)
