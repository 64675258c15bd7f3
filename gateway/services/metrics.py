"""In-process metrics and their Prometheus text exposition (format 0.0.4), with no dependency.

Counters are incremented by the code that sees the event (``inc``); gauges that mirror state the
gateway already holds (ledger height, ordering lag, checkpoint agreement) are sampled at scrape time
by the metrics route and passed to ``render`` as ``extra``. Label values never carry PHI: routes are
templates (``/fhir/{resource_type}``), never the requested path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]

HELP: Mapping[str, tuple[str, str]] = {
    "medgate_http_requests_total": ("counter", "HTTP requests by route template and status"),
    "medgate_decisions_total": ("counter", "Policy decisions by effect"),
    "medgate_ledger_height": ("gauge", "Height of this member's last committed block"),
    "medgate_ledger_tree_size": ("gauge", "Entries in this member's committed log"),
    "medgate_ordering_lag": ("gauge", "Ordered messages not yet committed by this member"),
    "medgate_checkpoint_final_height": ("gauge", "Height of the last quorum-cosigned checkpoint"),
    "medgate_checkpoint_mismatches_total": ("counter", "Checkpoint comparisons that disagreed"),
    "medgate_checkpoint_alarm": ("gauge", "1 while checkpoints disagree (releases suspended)"),
    "medgate_ledger_rollback_alarm": (
        "gauge",
        "1 while the store is older than or forked from this member's last checkpoint",
    ),
    "medgate_checkpoints_published_total": ("counter", "Checkpoints this member signed"),
    "medgate_checkpoints_verified_total": ("counter", "Peer checkpoints verified"),
    "medgate_checkpoints_rejected_total": ("counter", "Peer checkpoints refused, by reason"),
    "medgate_ledger_up": ("gauge", "1 while this member's ledger node runs"),
    "medgate_ledger_view_age_seconds": (
        "gauge",
        "Seconds since this member last confirmed it holds the whole ledger (bounded staleness)",
    ),
    "medgate_ledger_validator_faults_total": (
        "counter",
        "Entries committed with VALIDATOR_FAULT (a validator bug: see the ERROR log)",
    ),
}
"""Type and help text of every metric the gateway exposes (unknown names render as untyped)."""


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Labels
    value: float


def labels_of(labels: Mapping[str, str] | None) -> Labels:
    return tuple(sorted((labels or {}).items()))


class Metrics:
    """Thread-safe counters (handlers run on the event loop and in the thread pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, Labels], float] = {}

    def inc(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1) -> None:
        """Add ``value`` to the counter ``name`` with ``labels`` (created at 0)."""
        key = (name, labels_of(labels))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + value

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        with self._lock:
            return self._counters.get((name, labels_of(labels)), 0)

    def samples(self) -> list[Sample]:
        with self._lock:
            return [Sample(n, lb, v) for (n, lb), v in self._counters.items()]

    def render(self, extra: Iterable[Sample] = ()) -> str:
        """The exposition text of every counter plus the ``extra`` sampled gauges."""
        return render(self.samples() + list(extra))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(samples: Iterable[Sample]) -> str:
    """Prometheus text format: samples grouped by name, each group once with its HELP and TYPE."""
    by_name: dict[str, list[Sample]] = {}
    for sample in samples:
        by_name.setdefault(sample.name, []).append(sample)
    lines: list[str] = []
    for name in sorted(by_name):
        kind, text = HELP.get(name, ("untyped", name))
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for sample in sorted(by_name[name], key=lambda s: s.labels):
            inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sample.labels)
            label_text = f"{{{inner}}}" if inner else ""
            lines.append(f"{name}{label_text} {_number(sample.value)}")
    return "\n".join(lines) + "\n"
