"""Measure the raw ceiling of the nats ordering service: acknowledged publishes per second."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from ledger.ordering.nats import NatsOptions, NatsOrdering


@dataclass(frozen=True, slots=True)
class PublishRate:
    count: int
    size: int
    window: int
    replicas: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


async def measure_publish_rate(
    servers: list[str],
    count: int,
    *,
    size: int = 512,
    window: int = 256,
    replicas: int = 3,
) -> PublishRate:
    """Publish ``count`` distinct ``size``-byte entries through submit_many (the same window and
    retry path the ledger uses) to a scratch consortium stream, and time until the last ack.

    Writes to a fresh stream named after a random consortium id: never point it at a production
    cluster (gateways cannot delete that stream: an operator must). Requires count > 0."""
    if count <= 0:
        raise ValueError("count must be positive")
    ordering = await NatsOrdering.connect(
        servers, f"bench-{secrets.token_hex(8)}", replicas, options=NatsOptions(window=window)
    )
    try:
        payload = secrets.token_bytes(size)
        items = [(payload, f"bench-{i}") for i in range(count)]
        started = time.perf_counter()
        await ordering.submit_many(items)
        seconds = time.perf_counter() - started
    finally:
        await ordering.close()
    return PublishRate(count, size, window, replicas, seconds)
