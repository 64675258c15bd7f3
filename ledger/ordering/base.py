"""The ordering interface: submit raw signed entries, read the ordered stream from a position.

The ordering service orders; it never judges (ARCHITECTURE.md section 1.4). It sees opaque bytes and a
dedup key. Implementations: ``solo`` (embedded, one machine) and ``nats`` (JetStream cluster).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import msgspec


class Ordered(msgspec.Struct, frozen=True, gc=False):
    """One message of the stream (a struct: see ``ledger.statekv.StateChange``)."""

    position: int
    """1-based, gapless, identical on every reader of the same stream."""
    data: bytes


class Ordering(Protocol):
    async def submit(self, data: bytes, dedup_key: str) -> int:
        """Durably order ``data`` and return its position. Idempotent: a second submit with the same
        ``dedup_key`` returns the first one's position and orders nothing new (within the backend's
        dedup window; the ledger also rejects a repeated tx_id). Returns only once the write is durable."""
        ...

    async def submit_many(self, items: list[tuple[bytes, str]]) -> list[int]:
        """Submit with a window of acknowledgements in flight; positions in the order given."""
        ...

    def read(self, after: int) -> AsyncIterator[Ordered]:
        """Ordered messages with position > ``after``, in order, following new ones as they arrive."""
        ...

    async def last_position(self) -> int: ...

    async def close(self) -> None: ...
