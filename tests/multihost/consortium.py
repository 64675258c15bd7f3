"""A whole consortium across namespace hosts: one host per member, each with its own PostgreSQL,
NATS server (one cluster over the hosts' 198.18 addresses) and gateway.

``with HostConsortium(workdir, specs) as c:`` creates the network, the members' material (endpoints
on the hosts' addresses), every host's configs, starts every host and waits until every gateway is
ready; leaving the block tears all of it down, also on failure.
"""

from __future__ import annotations

import ssl
import sys
from pathlib import Path
from types import TracebackType

from gateway.identity.consortium import MemberSpec, create_consortium
from tests.multihost.hosts import Host, Network, run_checked
from tests.multihost.member import HostGateway, MemberHost
from tests.multihost.postgres import HostPostgres
from tests.multihost.units import service_command

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

    def hosts(self) -> list[Host]:
        return [member.host for member in self.members.values()]

    def log_tails(self, chars: int = 4000) -> str:
        """The last lines of every process log on every host (for a failing test's report)."""
        parts = []
        for member in self.members.values():
            for name, process in member.host.processes.items():
                parts.append(f"--- {member.org} {name} ---\n{process.tail(chars)}")
        return "\n".join(parts)

    @property
    def nats_client_urls(self) -> list[str]:
        return [f"tls://{h.address}:{NATS_CLIENT_PORT}" for h in self.network.hosts.values()]

    def _build(self, hosts: list[Host]) -> None:
        """Each member's material (`medgate init` with its host's https URL), then its kit
        rendered by `medgate deploy render` on its host's addresses, then its processes read
        from the kit's systemd units."""
        root = self.workdir / "material"
        urls = {
            s.org: f"https://{h.address}:{GATEWAY_PORT}"
            for s, h in zip(self.specs, hosts, strict=True)
        }
        created = create_consortium(root, self.name, self.specs, urls=urls)
        self.consortium_id = created.consortium_id
        for spec, host, member in zip(self.specs, hosts, created.members, strict=True):
            postgres = HostPostgres(host)
            self._postgres.append(postgres)
            postgres.start()
            for database in ("gateway", "ledger"):
                postgres.create(database)
            postgres.stop()
            kit = self._render(member.config, host, hosts, postgres)
            gateway = HostGateway(spec.org, spec.role, urls[spec.org], member.config.parent)
            trust = ssl.create_default_context(cafile=str(kit / "gateway" / "keys" / "ca.pem"))
            gateway.attach(host, postgres.url("ledger"), verify=trust)
            nats = service_command(kit / "systemd" / "medgate-nats.service")
            member_host = MemberHost(host, gateway, postgres, nats, kit)
            member_host.serve = service_command(kit / "systemd" / "medgate-gateway.service")
            self.members[spec.org] = member_host

    def _render(self, config: Path, host: Host, hosts: list[Host], pg: HostPostgres) -> Path:
        """`medgate deploy render` for the member on ``host``; the kit's folder."""
        kit = host.workdir / "kit"
        peers = [f"{h.address}:{NATS_CLUSTER_PORT}" for h in hosts if h is not host]
        # The gateway lists its own server first, then the others' (deploy/nats/README.md).
        servers = [f"tls://{h.address}:{NATS_CLIENT_PORT}" for h in [host, *hosts]]
        argv = [
            MEDGATE, "deploy", "render", "--config", str(config), "--out", str(kit),
            "--host", host.address, "--port", str(GATEWAY_PORT), "--bind", host.address,
            "--nats-listen", f"{host.address}:{NATS_CLIENT_PORT}",
            "--nats-cluster-listen", f"{host.address}:{NATS_CLUSTER_PORT}",
            "--nats-monitor-listen", NATS_MONITOR,
            "--nats-peers", ",".join(peers),
            "--nats-servers", ",".join(dict.fromkeys(servers)),
            "--database-url", pg.url("gateway"), "--ledger-database-url", pg.url("ledger"),
            "--user", "root", "--group", "root",
        ]  # fmt: skip
        run_checked(argv)
        return kit
