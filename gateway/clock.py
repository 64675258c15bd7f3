"""The gateway's one source of wall-clock time; everything below it takes time as a parameter."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    """Milliseconds since the epoch: the unit of every ledger timestamp."""
    return time.time_ns() // 1_000_000


def utcnow() -> datetime:
    return datetime.fromtimestamp(time.time(), tz=UTC)
