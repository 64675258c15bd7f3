"""A whole consortium across namespace hosts: one host per member, each with its own PostgreSQL,
NATS server (one cluster over the hosts' 198.18 addresses) and gateway.

``with HostConsortium(workdir, specs) as c:`` creates the network, the members' material (endpoints
on the hosts' addresses), every host's configs, starts every host and waits until every gateway is
ready; leaving the block tears all of it down, also on failure.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import TracebackType

from gateway.identity.consortium import MemberSpec, create_consortium
from ledger.ordering.nats_config import ServerSettings, render_server_config
from tests.multihost.hosts import Host, Network
from tests.multihost.member import Command, HostGateway, MemberHost
from tests.multihost.postgres import HostPostgres
from tests.support.nats_cluster import TEMPLATE, nats_server_binary

GATEWAY_PORT = 8443
NATS_CLIENT_PORT = 4222
NATS_CLUSTER_PORT = 6222
NATS_MONITOR = "127.0.0.1:8222"
MEDGATE = str(Path(sys.executable).parent / "medgate")


class HostConsortium:
    """Members of ``specs``, member ``i`` on host ``i``; ``members[org]`` is its MemberHost."""

    def __init__(self, workdir: Path, specs: list[MemberSpec], name: str = "multihost") -> None:
        self.workdir = workdir
        self.specs = specs
        self.name = name
        self.network = Network(workdir / "hosts")
        self.members: dict[str, MemberHost] = {}
        self._postgres: list[HostPostgres] = []
        self.consortium_id = ""

    def __getitem__(self, org: str) -> MemberHost:
        return self.members[org]

    def __enter__(self) -> HostConsortium:
        self.network.__enter__()
        try:
            hosts = [self.network.add_host(spec.org) for spec in self.specs]
            self._build(hosts)
            for member in self.members.values():
                member.postgres.start()
                member.start_nats()
            for member in self.members.values():
                member.start_gateway()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            for member in self.members.values():
                member.gateway.http.close()
            self.network.close()
        finally:
            for postgres in self._postgres:
                postgres.remove()

    @property
    def nats_client_urls(self) -> list[str]:
        return [f"nats://{h.address}:{NATS_CLIENT_PORT}" for h in self.network.hosts.values()]

    def _build(self, hosts: list[Host]) -> None:
        root = self.workdir / "material"
        urls = [f"http://{h.address}:{GATEWAY_PORT}" for h in hosts]
        created = create_consortium(root, self.name, self.specs, urls=urls)
        self.consortium_id = created.consortium_id
        routes = tuple(f"{h.address}:{NATS_CLUSTER_PORT}" for h in hosts)
        for spec, host, member in zip(self.specs, hosts, created.members, strict=True):
            postgres = HostPostgres(host)
            self._postgres.append(postgres)
            postgres.start()
            for database in ("gateway", "ledger"):
                postgres.create(database)
            postgres.stop()
            nats_conf = self._nats_config(host, routes)
            others = [u for u in self.nats_client_urls if host.address not in u]
            servers = [f"nats://{host.address}:{NATS_CLIENT_PORT}", *others]
            _configure(member.config, host, postgres, servers)
            gateway = HostGateway(spec.org, spec.role, member.public_url, member.config.parent)
            gateway.attach(host, postgres.url("ledger"), verify=False)
            nats = Command([nats_server_binary(), "-c", str(nats_conf)])
            member_host = MemberHost(host, gateway, postgres, nats)
            member_host.serve = Command([MEDGATE, "serve", "--config", str(member.config)])
            self.members[spec.org] = member_host

    def _nats_config(self, host: Host, routes: tuple[str, ...]) -> Path:
        settings = ServerSettings(
            server_name=host.name,
            client_listen=f"{host.address}:{NATS_CLIENT_PORT}",
            monitor_listen=NATS_MONITOR,
            cluster_name=f"medgate-{self.network.token}",
            cluster_listen=f"{host.address}:{NATS_CLUSTER_PORT}",
            routes=routes,
            store_dir=str(host.workdir / "nats" / "store"),
            max_file_store="1GB",
            max_memory_store="64MB",
        )
        path = host.workdir / "nats" / "server.conf"
        path.parent.mkdir(parents=True, exist_ok=True)
        template = TEMPLATE.read_text(encoding="utf-8")
        path.write_text(render_server_config(template, settings), encoding="utf-8")
        return path


def _configure(config: Path, host: Host, postgres: HostPostgres, servers: list[str]) -> None:
    text = config.read_text(encoding="utf-8")
    text = text.replace('host = "127.0.0.1"', f'host = "{host.address}"')
    text = text.replace('url = "sqlite:///data/gateway.db"', f'url = "{postgres.url("gateway")}"')
    text = text.replace(
        'ledger_url = "sqlite:///data/ledger.db"', f'ledger_url = "{postgres.url("ledger")}"'
    )
    text = text.replace('backend = "solo"', 'backend = "nats"')
    listed = ", ".join(f'"{s}"' for s in servers)
    text = re.sub(r"nats_servers = \[\]", f"nats_servers = [{listed}]", text)
    config.write_text(text, encoding="utf-8")
