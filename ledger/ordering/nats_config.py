"""Render a member's NATS server config from the deploy/nats template (pure: text in, text out)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ledger.errors import OrderingError

TLS_BEGIN = "# >>> tls"
TLS_END = "# <<< tls"
_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")
# Values are pasted into a config language that has its own quoting and variables ($X, {}): accept
# only the characters a name, host:port, path, size or certificate DN needs, so a value can never
# open a block or reference a variable.
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.:/=, -]*")


@dataclass(frozen=True, slots=True)
class ServerTls:
    """PEM files of one member's server: its certificate and key, and the bundle of member CAs."""

    cert_file: str
    key_file: str
    ca_file: str
    gateway_user_dn: str
    """Certificate subject of this member's gateways (mapped to the MEDGATE account user)."""
    operator_user_dn: str
    """Certificate subject of the operator allowed into the system account."""
    peer_gateway_user_dns: tuple[str, ...] = ()
    """Certificate subjects of the other members' gateways, mapped to the same account (a
    gateway may connect to any member's server of the cluster)."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Everything that differs between members' servers. ``routes`` are ``host:port`` of every
    server's cluster listener (its own may be included: the server ignores a route to itself)."""

    server_name: str
    client_listen: str
    monitor_listen: str
    cluster_name: str
    cluster_listen: str
    routes: tuple[str, ...]
    store_dir: str
    max_file_store: str = "64GB"
    max_memory_store: str = "256MB"
    tls: ServerTls | None = None
    """None only on a loopback test cluster: then the TLS and account blocks are dropped."""


def render_server_config(template: str, settings: ServerSettings) -> str:
    """Fill ``template``. Raises OrderingError on an unknown or unfilled placeholder or a value that
    is not plain (see _SAFE_VALUE)."""
    text = _select_tls_blocks(template, keep=settings.tls is not None)
    values = _values(settings)
    for key, value in values.items():
        if not _SAFE_VALUE.fullmatch(value):
            raise OrderingError(f"nats config value {key}={value!r} has unsafe characters")
    routes = "\n".join(f"    nats-route://{route}" for route in settings.routes)
    for route in settings.routes:
        if not _SAFE_VALUE.fullmatch(route):
            raise OrderingError(f"nats route {route!r} has unsafe characters")
    values["routes"] = routes
    if settings.tls is not None:
        values["gateway_users"] = _gateway_users(settings.tls)

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise OrderingError(f"nats config template: no value for {{{{{key}}}}}")
        return values[key]

    return _PLACEHOLDER.sub(fill, text)


def _values(settings: ServerSettings) -> dict[str, str]:
    values = {
        "server_name": settings.server_name,
        "client_listen": settings.client_listen,
        "monitor_listen": settings.monitor_listen,
        "cluster_name": settings.cluster_name,
        "cluster_listen": settings.cluster_listen,
        "store_dir": settings.store_dir,
        "max_file_store": settings.max_file_store,
        "max_memory_store": settings.max_memory_store,
    }
    if settings.tls is not None:
        values |= {
            "tls_cert": settings.tls.cert_file,
            "tls_key": settings.tls.key_file,
            "tls_ca": settings.tls.ca_file,
            "gateway_user_dn": settings.tls.gateway_user_dn,
            "operator_user_dn": settings.tls.operator_user_dn,
        }
    return values


def _gateway_users(tls: ServerTls) -> str:
    """One user per gateway certificate subject, each with the gateway permissions."""
    dns = dict.fromkeys((tls.gateway_user_dn, *tls.peer_gateway_user_dns))
    for dn in dns:
        if not _SAFE_VALUE.fullmatch(dn):
            raise OrderingError(f"nats gateway user {dn!r} has unsafe characters")
    return "\n".join(f'      {{ user: "{dn}", permissions: $GATEWAY_PERMISSIONS }}' for dn in dns)


def _select_tls_blocks(template: str, *, keep: bool) -> str:
    """Keep or drop every line between the TLS markers (inclusive); markers must pair up."""
    out: list[str] = []
    inside = False
    for line in template.splitlines():
        marker = line.strip()
        if marker == TLS_BEGIN:
            if inside:
                raise OrderingError("nats config template: nested tls block")
            inside = True
        elif marker == TLS_END:
            if not inside:
                raise OrderingError("nats config template: tls block end without begin")
            inside = False
        elif keep or not inside:
            out.append(line)
    if inside:
        raise OrderingError("nats config template: unterminated tls block")
    return "\n".join(out) + "\n"
