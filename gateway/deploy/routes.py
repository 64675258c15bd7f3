"""Which NATS cluster listener a kit routes to for each other member (pure).

The ledger registers each member's HTTPS endpoint, not its NATS address. A member's route is, by
default, its endpoint's host on the same cluster port as this member's (one port per consortium);
``--nats-peers`` overrides it per member (``ORG=HOST:PORT``). An entry without ``ORG=`` (the older
form) is attributed to the one member whose endpoint has that host. A route is written only for an
active member: an entry naming a removed or unknown member is left out, with a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.deploy.members import KitMember


@dataclass(frozen=True, slots=True)
class Routes:
    routes: tuple[str, ...]
    """``host:port`` of every other active member's cluster listener, in member order."""
    warnings: tuple[str, ...]
    """Given entries that were left out (no active member has them)."""


def _split_host(hostport: str) -> str:
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--nats-peers: {hostport!r} is not HOST:PORT")
    return host.strip("[]")


def _endpoint_host(member: KitMember) -> str:
    return urlsplit(member.endpoint).hostname or ""


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def nats_routes(
    members: Sequence[KitMember], own: str, given: Sequence[str], cluster_port: str
) -> Routes:
    """Routes from this member (``own``) to every other one of ``members``. Requires
    ``cluster_port`` to be this member's cluster listener port. Raises ValueError for a malformed
    entry or one without ``ORG=`` whose host several members share."""
    others = [m for m in members if m.org != own]
    chosen: dict[str, str] = {}
    warnings: list[str] = []
    for entry in given:
        org, sep, hostport = entry.partition("=")
        if not sep:
            org, hostport = "", entry
        host = _split_host(hostport)
        if not org:
            matches = [m.org for m in others if _endpoint_host(m) == host]
            if len(matches) > 1:
                raise ValueError(
                    f"--nats-peers: {hostport} is the host of {', '.join(matches)}:"
                    " name the member (ORG=HOST:PORT)"
                )
            org = matches[0] if matches else ""
        if org not in {m.org for m in others}:
            warnings.append(f"--nats-peers {entry}: no other active member has it; left out")
            continue
        chosen[org] = hostport
    routes = tuple(
        chosen.get(m.org, f"{_bracketed(_endpoint_host(m))}:{cluster_port}") for m in others
    )
    return Routes(routes, tuple(warnings))
