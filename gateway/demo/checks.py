"""The demo's own checks, pure: identifying values found anywhere in released data (compared
case-insensitively), and the accesses the walkthrough made against the patient's audit log."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def strings_of(document: Any) -> Iterator[str]:
    """Every string in a JSON document: object keys and values, at any depth."""
    if isinstance(document, str):
        yield document
    elif isinstance(document, Mapping):
        for key, value in document.items():
            yield str(key)
            yield from strings_of(value)
    elif isinstance(document, list | tuple):
        for item in document:
            yield from strings_of(item)


def identifier_hits(document: Any, values: Iterable[str]) -> list[str]:
    """The ``values`` found in any string of ``document``, ignoring case: an EHR may spell an MRN
    ``MRN-0003`` in an identifier and ``mrn-0003`` inside a resource id, and both identify."""
    text = "\n".join(s.casefold() for s in strings_of(document))
    return [value for value in values if value.casefold() in text]


@dataclass(frozen=True, slots=True)
class Access:
    """One request of the walkthrough that the custodian records as an ``access.record`` about the
    patient (a release or a denial); ``tx_id`` as the gateway answered it, None if it did not."""

    what: str
    tx_id: str | None


@dataclass(frozen=True, slots=True)
class LogComparison:
    """The walkthrough's accesses against the patient's log: what is missing, extra, unproven."""

    made: int
    shown: int
    missing: tuple[Access, ...]
    extra: tuple[str, ...]
    unproven: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.made == self.shown and not (self.missing or self.extra or self.unproven)

    def problems(self) -> list[str]:
        counts = [] if self.made == self.shown else [f"{self.shown} log entries, {self.made} made"]
        return [
            *counts,
            *(
                f"missing from the log: {a.what} (tx {a.tx_id or 'not returned'})"
                for a in self.missing
            ),
            *(f"in the log but not made by the walkthrough: tx {tx}" for tx in self.extra),
            *(f"not proven against the checkpoint: tx {tx}" for tx in self.unproven),
        ]


def compare_log(made: Sequence[Access], entries: Sequence[Mapping[str, Any]]) -> LogComparison:
    """Exactly the accesses ``made`` must be in the log ``entries`` (each once, each with a proof)."""
    shown = {str(e.get("tx_id", "")).lower(): e for e in entries}
    expected = {a.tx_id.lower() for a in made if a.tx_id is not None}
    return LogComparison(
        made=len(made),
        shown=len(entries),
        missing=tuple(a for a in made if a.tx_id is None or a.tx_id.lower() not in shown),
        extra=tuple(tx for tx in shown if tx not in expected),
        unproven=tuple(tx for tx, e in shown.items() if tx in expected and e.get("proof") is None),
    )
