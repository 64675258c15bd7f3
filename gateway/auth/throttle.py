"""Per-peer request throttle: a token bucket per verified member organisation.

A peer that sends more than ``rate`` requests per second (sustained, with ``burst`` at once) gets
429 with ``Retry-After``, so one misbehaving member cannot take a gateway's capacity from the
others. Buckets are kept only for organisations whose assertion verified against the member
registry, so their number is bounded by the consortium's size. Each process throttles its own
traffic: N replicas behind a load balancer admit up to N times the rate in total (a throttle, not a
security decision; nothing else depends on it).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import RateLimitedError


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: int


class PeerThrottle:
    """``admit(org)`` once per request from a verified peer; ``rate`` 0 admits everything."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], int]) -> None:
        """``clock``: seconds since the epoch, the gateway's one clock."""
        self._rate = rate_per_s
        self._burst = float(max(burst, 1))
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def admit(self, org: str) -> None:
        """Take one request from ``org``'s bucket. Raises RateLimitedError (429) when it is
        empty, with the whole seconds until one request is allowed again."""
        if self._rate <= 0:
            return
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(org)
            if bucket is None:
                bucket = self._buckets[org] = _Bucket(self._burst, now)
            elapsed = max(0, now - bucket.at)
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
            bucket.at = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return
            wait = max(1, math.ceil((1 - bucket.tokens) / self._rate))
        raise RateLimitedError(
            f"too many requests from member {org}; retry after {wait} s", retry_after=wait
        )
