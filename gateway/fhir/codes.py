"""Ingest checks the R4 models leave out: required-bound codes and control characters in strings.

The R4B models type a ``code`` element as any string, so ``Observation.status = "banana"`` or
``Patient.gender = "banana"`` would be stored. FHIR R4 binds these elements ``required``: a value
outside the value set is not FHIR, and the decision point reads some of them (Consent.status), so
an unknown one must be refused at the door, never guessed at later. The value sets come from the
models' own ``enum_values``; where the model abbreviates a hierarchical value set with ``+``, the
R4 expansion is listed here. FHIR strings may not contain characters below U+0020 other than tab,
CR and LF (R4 section 2.24.0.1): a NUL in a name is refused, not stored. Problems name the element
(dotted path, as the model's own issues do) and never echo the value, which may be PHI.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from gateway.errors import Issue

CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
R4_EXPANSIONS: dict[tuple[str, str], frozenset[str]] = {
    ("DiagnosticReport", "status"): frozenset(
        [
            "registered",
            "partial",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "appended",
            "cancelled",
            "entered-in-error",
            "unknown",
        ]
    ),
    ("Encounter", "status"): frozenset(
        [
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        ]
    ),
    ("Observation", "status"): frozenset(
        [
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        ]
    ),
}
"""Required value sets the R4B models abbreviate with ``+`` (R4 4.0.1 expansions)."""
MAX_DEPTH = 32


@lru_cache(maxsize=512)
def _fields(
    model: type[BaseModel],
) -> dict[str, tuple[frozenset[str] | None, type[BaseModel] | None]]:
    """JSON name -> (required value set or None, nested model or None) of ``model``."""
    out: dict[str, tuple[frozenset[str] | None, type[BaseModel] | None]] = {}
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        values = extra.get("enum_values")
        codes: frozenset[str] | None = None
        if isinstance(values, list):
            codes = R4_EXPANSIONS.get((model.__name__, name), frozenset(map(str, values)))
        out[field.alias or name] = (codes, _nested(field.annotation))
    return out


def _nested(annotation: object) -> type[BaseModel] | None:
    """The model class inside ``Optional[X]`` / ``Optional[List[X]]``, if any (not resources:
    contained resources are typed generically and checked by the model alone)."""
    stack = [annotation]
    while stack:
        current = stack.pop()
        # fhir.resources names element types by placeholder classes (IdentifierType) that
        # resolve to the model class lazily.
        resolve = getattr(current, "get_model_klass", None)
        if callable(resolve):
            current = resolve()
        if isinstance(current, type) and issubclass(current, BaseModel):
            return current if "resource_type" not in current.model_fields else None
        stack.extend(typing.get_args(current))
    return None


def code_issues(model: type[BaseModel], data: dict[str, Any]) -> list[Issue]:
    """One issue per required code outside its value set and per string with a control
    character in ``data`` (already accepted by ``model``)."""
    return list(_walk(model, data, "", 0))


def _walk(model: type[BaseModel], data: dict[str, Any], path: str, depth: int) -> Iterator[Issue]:
    if depth > MAX_DEPTH:
        return
    fields = _fields(model)
    for key, value in data.items():
        where = f"{path}{key}"
        codes, nested = fields.get(key, (None, None))
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            at = f"{where}.{i}" if isinstance(value, list) else where
            if isinstance(item, str):
                if CONTROL_RE.search(item):
                    yield Issue("invalid", "a control character in a string", at)
                elif codes is not None and item not in codes:
                    yield Issue("code-invalid", "a code outside its required value set", at)
            elif isinstance(item, dict):
                if nested is not None:
                    yield from _walk(nested, item, f"{at}.", depth + 1)
                else:
                    yield from _strings(item, f"{at}.", depth + 1)


def _strings(data: dict[str, Any], path: str, depth: int) -> Iterator[Issue]:
    """Control characters anywhere below ``data`` (contained resources, extensions)."""
    if depth > MAX_DEPTH:
        return
    for key, value in data.items():
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            at = f"{path}{key}.{i}" if isinstance(value, list) else f"{path}{key}"
            if isinstance(item, str) and CONTROL_RE.search(item):
                yield Issue("invalid", "a control character in a string", at)
            elif isinstance(item, dict):
                yield from _strings(item, f"{at}.", depth + 1)
