"""A bounded load of exchanges through the gateways, run in the background while a test breaks the
network or a host; it remembers every access record a gateway acknowledged (the custodian answered
with ``X-Medgate-Access-Tx``: the record was ordered before the answer, "audit before release")."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

import httpx

from tests.e2e.flows import ask
from tests.e2e.gateways import Gateway

ACCESS_TX = "X-Medgate-Access-Tx"


@dataclass(frozen=True, slots=True)
class Exchange:
    """``requester`` asks ``custodian`` for ``national_id``'s ``types`` under ``purpose``."""

    requester: Gateway
    custodian: str
    national_id: str
    purpose: str
    types: tuple[str, ...]


@dataclass
class Load:
    """Round-robin over ``exchanges`` from a thread, until ``stop()``, ``max_requests`` or
    ``max_seconds`` (whichever first: the loop always ends by itself)."""

    exchanges: list[Exchange]
    max_requests: int = 400
    max_seconds: float = 90.0
    acknowledged: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=self._run, name="multihost-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.max_seconds + 90)

    def done(self) -> int:
        return len(self.acknowledged) + len(self.failures)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        for n, ex in zip(range(self.max_requests), itertools.cycle(self.exchanges), strict=False):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            try:
                reply = ask(ex.requester, ex.custodian, ex.national_id, ex.purpose, list(ex.types))
            except (httpx.TransportError, AssertionError) as exc:
                self.failures.append(f"{n}: {type(exc).__name__}")
                time.sleep(0.05)
                continue
            self.statuses[reply.status_code] = self.statuses.get(reply.status_code, 0) + 1
            tx = reply.headers.get(ACCESS_TX)
            if tx and reply.status_code in (200, 403):
                self.acknowledged.append(tx)
            else:
                self.failures.append(f"{n}: {reply.status_code}")
