"""Rate limit on sign-in secrets guessed from one client address: after ``max_failures`` wrong
attempts inside ``window`` seconds, the address is locked out for ``window`` seconds (429).

Per replica and in memory: N replicas allow at most N times the attempts, still far too few to
guess an 80-bit secret. The per-invitation limit (failures counted on the invitation's row) is
shared by every replica. The clock is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_ADDRESSES = 100_000
"""Addresses tracked at once; past it, expired entries are dropped, then the oldest half."""


@dataclass(slots=True)
class _Entry:
    failures: int = 0
    since: int = 0
    locked_until: int = 0


@dataclass(slots=True)
class GuessLimiter:
    max_failures: int
    window: int
    _seen: dict[str, _Entry] = field(default_factory=dict)

    def retry_after(self, address: str, now: int) -> int:
        """Seconds the address must wait before trying again; 0 when it may try now."""
        entry = self._seen.get(address)
        if entry is None or entry.locked_until <= now:
            return 0
        return entry.locked_until - now

    def failed(self, address: str, now: int) -> None:
        """Count one wrong attempt from ``address``; lock it out at the limit."""
        entry = self._seen.get(address)
        if entry is None or now - entry.since >= self.window:
            entry = _Entry(0, now)
            self._remember(address, entry, now)
        entry.failures += 1
        if entry.failures >= self.max_failures:
            entry.locked_until = now + self.window

    def succeeded(self, address: str) -> None:
        self._seen.pop(address, None)

    def _remember(self, address: str, entry: _Entry, now: int) -> None:
        if len(self._seen) >= MAX_ADDRESSES:
            live = {
                a: e
                for a, e in self._seen.items()
                if e.locked_until > now or now - e.since < self.window
            }
            if len(live) >= MAX_ADDRESSES // 2:
                live = dict(list(live.items())[len(live) // 2 :])
            self._seen = live
        self._seen[address] = entry
