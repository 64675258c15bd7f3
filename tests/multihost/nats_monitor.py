"""Read a host's NATS server monitoring endpoint (bound to the host's own loopback)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from ledger.ordering.nats_stream import stream_names
from tests.multihost.hosts import Host

MONITOR_URL = "http://127.0.0.1:8222"


def jsz(host: Host) -> dict[str, Any]:
    """``/jsz`` with every account's streams, as ``host``'s server sees them."""

    def get() -> dict[str, Any]:
        reply = httpx.get(f"{MONITOR_URL}/jsz", params={"accounts": 1, "streams": 1}, timeout=5)
        reply.raise_for_status()
        value: dict[str, Any] = reply.json()
        return value

    return host.call(get)


def stream_replicas(hosts: Iterable[Host], consortium: str) -> list[str]:
    """Distinct names of the servers holding ``consortium``'s ledger stream (leader first), as the first of
    ``hosts`` whose server holds a replica sees it (a server lists only the streams it holds)."""
    name = stream_names(consortium).stream
    for host in hosts:
        for account in jsz(host).get("account_details", []):
            for stream in account.get("stream_detail") or []:
                if stream["name"] == name:
                    cluster = stream.get("cluster", {})
                    # A server lists the stream's other peers: itself (named like its host) too.
                    others = [r["name"] for r in cluster.get("replicas") or []]
                    return list(dict.fromkeys([cluster.get("leader", ""), host.name, *others]))
    raise AssertionError(f"no server of these hosts holds stream {name}")
