"""The kit's text files, rendered from deploy/ templates (pure: a Plan in, text out)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.deploy.templates import fill, read_template, toml_list, toml_str, unit_value
from gateway.identity.certs import subject_name
from gateway.settings import Settings
from ledger.ordering.nats_config import ServerSettings, ServerTls, render_server_config

if TYPE_CHECKING:
    from gateway.deploy.kit import KitOptions

Writer = Callable[[str, bytes], None]
NATS_CLIENT_PURPOSE = "nats-client"
NATS_OPERATOR_PURPOSE = "nats-operator"


@dataclass(frozen=True, slots=True)
class Plan:
    settings: Settings
    options: KitOptions
    host: str
    port: int
    root: Path
    orgs: tuple[str, ...]
    """Every active member (its gateways are NATS users on this member's server too)."""
    routes: tuple[str, ...]
    """``host:port`` of every other active member's NATS cluster listener."""
    members: str
    """Which members the kit is for, and where they were read (gateway.deploy.members)."""


def gateway_user_dn(org: str) -> str:
    """The NATS user (certificate subject, RFC 4514) of ``org``'s gateways."""
    return subject_name(org, NATS_CLIENT_PURPOSE).rfc4514_string()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def public_url(plan: Plan) -> str:
    return f"https://{_url_host(plan.host)}:{plan.port}"


def _port_of(listen: str) -> str:
    return listen.rsplit(":", 1)[-1]


def nats_servers(plan: Plan) -> tuple[str, ...]:
    """The gateway's NATS URLs: as given, else its own member's server on the public host."""
    given = plan.options.nats_servers
    own = f"tls://{_url_host(plan.host)}:{_port_of(plan.options.nats_client_listen)}"
    return given or (own,)


def _clients_toml(settings: Settings) -> str:
    blocks = []
    for client in settings.clients:
        lines = ["", "[[clients]]", f"client_id = {toml_str(client.client_id)}"]
        if client.jwks_path is not None:
            lines.append(f"jwks_path = {toml_str('clients/' + client.jwks_path.name)}")
        if client.jwks_url is not None:
            lines.append(f"jwks_url = {toml_str(client.jwks_url)}")
        lines.append(f"scopes = {toml_list(client.scopes)}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def gateway_config(plan: Plan) -> str:
    s, o = plan.settings, plan.options
    return fill(
        read_template("gateway/medgate.toml.template"),
        {
            "org": s.org,
            "org_q": toml_str(s.org),
            "role_q": toml_str(s.role.value),
            "consortium_q": toml_str(s.consortium),
            "public_url_q": toml_str(public_url(plan)),
            "bind_q": toml_str(o.bind),
            "port": str(plan.port),
            "host": plan.host,
            "database_url_q": toml_str(o.database_url),
            "ledger_database_url_q": toml_str(o.ledger_database_url),
            "nats_servers_toml": toml_list(nats_servers(plan)),
            "max_view_age_s": repr(float(s.ordering.max_view_age_s)),
            "clients_toml": _clients_toml(s),
        },
    )


def nats_config(plan: Plan) -> str:
    """The member's NATS server config from deploy/nats/server.conf.template, TLS on."""
    s, o = plan.settings, plan.options
    tls_dir = plan.root / "nats" / "tls"
    tls = ServerTls(
        cert_file=str(tls_dir / "server.pem"),
        key_file=str(tls_dir / "server.key"),
        ca_file=str(tls_dir / "member-cas.pem"),
        gateway_user_dn=gateway_user_dn(s.org),
        operator_user_dn=subject_name(s.org, NATS_OPERATOR_PURPOSE).rfc4514_string(),
        peer_gateway_user_dns=tuple(gateway_user_dn(org) for org in plan.orgs if org != s.org),
    )
    server = ServerSettings(
        server_name=s.org,
        client_listen=o.nats_client_listen,
        monitor_listen=o.nats_monitor_listen,
        cluster_name=f"medgate-{s.consortium[:16]}",
        cluster_listen=o.nats_cluster_listen,
        routes=plan.routes,
        store_dir=str(plan.root / "nats" / "store"),
        tls=tls,
    )
    return render_server_config(read_template("nats/server.conf.template"), server)


def _unit_values(plan: Plan) -> dict[str, str]:
    o = plan.options
    return {
        "org": plan.settings.org,
        "root": unit_value(str(plan.root)),
        "user": unit_value(o.user),
        "group": unit_value(o.group),
        "medgate_bin": unit_value(o.medgate_bin),
        "nats_server_bin": unit_value(o.nats_server_bin),
    }


def gateway_unit(plan: Plan) -> str:
    return fill(read_template("systemd/medgate-gateway.service.template"), _unit_values(plan))


def nats_unit(plan: Plan) -> str:
    return fill(read_template("systemd/medgate-nats.service.template"), _unit_values(plan))


def readme(plan: Plan, registered_endpoint: str) -> str:
    o = plan.options
    values = _unit_values(plan) | {
        "public_url": public_url(plan),
        "registered_endpoint": registered_endpoint,
        "host": plan.host,
        "nats_client_listen": o.nats_client_listen,
        "nats_cluster_listen": o.nats_cluster_listen,
        "nats_monitor_listen": o.nats_monitor_listen,
        "nats_peers": ", ".join(plan.routes) or "(none: this member is the only one)",
        "nats_servers": ", ".join(nats_servers(plan)),
        "database_url": o.database_url,
        "ledger_database_url": o.ledger_database_url,
        "gateway_user_dn": gateway_user_dn(plan.settings.org),
        "max_view_age_s": repr(float(plan.settings.ordering.max_view_age_s)),
        "members": plan.members,
    }
    return fill(read_template("kit-README.md.template"), values)
