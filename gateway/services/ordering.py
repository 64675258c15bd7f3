"""Open the ordering backend a member's config names (the one place that picks an implementation)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway.settings import Settings
from gateway.tls import nats_client_context
from ledger.ordering.base import Ordering
from ledger.ordering.nats import NatsOrdering
from ledger.ordering.solo import SoloOrdering


async def open_ordering(settings: Settings, *, stream: str = "ledger") -> Ordering:
    """The ledger stream (``stream="ledger"``) or the checkpoint stream (``"checkpoints"``)."""
    if settings.ordering.backend == "solo":
        path = settings.ordering.solo_path
        if stream != "ledger":
            path = path.with_name(f"{stream}.db")
        return SoloOrdering(path)
    consortium = settings.consortium if stream == "ledger" else f"{settings.consortium}-{stream}"
    servers = list(settings.ordering.nats_servers)
    replicas = min(3, len(servers)) if servers else 3
    # TLS (mutual: our certificate maps to the servers' NATS user) when the config names the CAs.
    tls = nats_client_context(settings)
    return await NatsOrdering.connect(servers, consortium, replicas=replicas, tls=tls)


def tail_probe(ordering: Ordering, bound_s: float) -> Callable[[], Awaitable[int]]:
    """How the staleness probe (gateway.services.staleness) asks ``ordering`` for its tail: on
    nats, only a stream leader that hears a quorum of replicas counts (an isolated former leader
    would confirm a stale tail); solo's tail is the shared file's."""
    if isinstance(ordering, NatsOrdering):
        # Raft heartbeats arrive about every second: a few missed ones, at most half the bound.
        silence = max(2.0, min(bound_s / 2, 5.0))
        return lambda: ordering.confirmed_last_position(silence)
    return ordering.last_position
