"""The jti replay cache: each token id is accepted once until the token expires.

The Protocol is what verification needs. A gateway uses the table in its member's database
(gateway.store.seen_jti), which every replica shares: a token replayed to another replica is
refused there too. ``MemoryReplayCache`` serves one process (unit tests, embedded tools).
"""

from __future__ import annotations

import heapq
import threading
from typing import Protocol


class ReplayCache(Protocol):
    def first_use(self, scope: str, jti: str, expires_at: int, now: int) -> bool:
        """Record ``(scope, jti)`` until ``expires_at``; True only the first time it is seen.

        Atomic: two concurrent calls with the same id never both get True. May block (a
        database write): call it from a worker thread.
        """
        ...

    async def first_use_async(self, scope: str, jti: str, expires_at: int, now: int) -> bool:
        """``first_use`` from the event loop, which it never blocks."""
        ...


class MemoryReplayCache:
    """In-process cache; entries are pruned once expired, so memory is bounded by the token rate."""

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._expiry: dict[tuple[str, str], int] = {}
        self._heap: list[tuple[int, str, str]] = []
        self._lock = threading.Lock()
        self._max = max_entries

    def first_use(self, scope: str, jti: str, expires_at: int, now: int) -> bool:
        with self._lock:
            self._prune(now)
            if (scope, jti) in self._expiry:
                return False
            if len(self._expiry) >= self._max:
                # Refusing is safe (the client retries with a new jti); forgetting is not.
                return False
            self._expiry[(scope, jti)] = expires_at
            heapq.heappush(self._heap, (expires_at, scope, jti))
            return True

    async def first_use_async(self, scope: str, jti: str, expires_at: int, now: int) -> bool:
        return self.first_use(scope, jti, expires_at, now)  # in memory: never blocks

    def _prune(self, now: int) -> None:
        while self._heap and self._heap[0][0] < now:
            _, scope, jti = heapq.heappop(self._heap)
            self._expiry.pop((scope, jti), None)

    def __len__(self) -> int:
        return len(self._expiry)
