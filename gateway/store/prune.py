"""When a store that keeps expiring rows deletes them: at most once per period of the injected
clock, whichever thread asks first (each replica prunes on its own schedule; a delete of rows
already gone is harmless)."""

from __future__ import annotations

import threading

PRUNE_EVERY_S = 60


class PruneSchedule:
    """``due(now)`` is True at most once per ``every`` seconds of ``now``."""

    def __init__(self, every: int = PRUNE_EVERY_S) -> None:
        self._every = every
        self._next = 0
        self._lock = threading.Lock()

    def due(self, now: int) -> bool:
        with self._lock:
            if now < self._next:
                return False
            self._next = now + self._every
            return True
