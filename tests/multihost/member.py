"""One consortium member on its own host: its PostgreSQL, its NATS server and its gateway, each a
process in the host's namespace, and a client (the member's EHR) that talks to the gateway from
inside the host.

``MemberHost.start()`` brings the three up in order (database, ordering, gateway) and waits for
each; ``lose()`` SIGKILLs every process of the host; ``start()`` again restarts them from the same
disks. The gateway is a tests.e2e.gateways.Gateway whose HTTP client connects from the host and
whose ledger reads go to the host's PostgreSQL, so the e2e flows (tests/e2e/flows.py) run
unchanged across hosts.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from ledger.storage.sql import SqlStore
from tests.e2e.gateways import Gateway
from tests.multihost.hosts import Host, HostError, HostProcess
from tests.multihost.postgres import HostPostgres

READY_TIMEOUT_S = 90.0
POLL_S = 0.1
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Command:
    """A process as a systemd unit declares it: ExecStart's argv, its environment and user."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    cwd: Path | None = None


class HostGateway(Gateway):
    """A Gateway reached from inside ``host`` (``host`` and ``ledger_url`` set after init)."""

    host: Host
    ledger_url: str
    verify: ssl.SSLContext | bool

    def attach(self, host: Host, ledger_url: str, verify: ssl.SSLContext | bool) -> None:
        self.host, self.ledger_url, self.verify = host, ledger_url, verify
        self.http.close()
        self.http = httpx.Client(
            base_url=self.url, timeout=60, transport=host.transport(verify=verify)
        )

    @contextlib.contextmanager
    def ledger(self) -> Iterator[SqlStore]:
        raise NotImplementedError("use read_state: the store is reached from inside the host")

    def read_state(self, read: Callable[[SqlStore], T]) -> T:
        """``read`` this member's own ledger store on its host's PostgreSQL."""

        def run() -> T:
            store = SqlStore(self.ledger_url)
            try:
                return read(store)
            finally:
                store.close()

        return self.host.call(run)


class MemberHost:
    """The member ``org`` on ``host``, its processes started with the commands of its rendered
    systemd units; ``gateway.folder`` is the member's init folder (its EHR client's key)."""

    def __init__(
        self, host: Host, gateway: HostGateway, postgres: HostPostgres, nats: Command, kit: Path
    ) -> None:
        self.kit = kit
        """The member's rendered deploy kit (gateway/medgate.toml, nats/, systemd/)."""
        self.host = host
        self.gateway = gateway
        self.postgres = postgres
        self.nats = nats
        self.serve: Command | None = None

    @property
    def org(self) -> str:
        return self.gateway.org

    def start(self, *, wait_ready: bool = True) -> None:
        """PostgreSQL, then the NATS server, then the gateway (bounded waits; HostError with the
        log tail when one does not come up)."""
        self.postgres.start()
        self.start_nats()
        self.start_gateway(wait_ready=wait_ready)

    def start_nats(self) -> HostProcess:
        return self.host.spawn(
            "nats", self.nats.argv, env=self.nats.env, user=self.nats.user, cwd=self.nats.cwd
        )

    def start_gateway(self, *, wait_ready: bool = True) -> HostProcess:
        if self.serve is None:
            raise HostError(f"{self.org}: no gateway command")
        process = self.host.spawn(
            "gateway",
            self.serve.argv,
            env=self.serve.env,
            user=self.serve.user,
            cwd=self.serve.cwd,
        )
        self.wait_answering(ready=wait_ready)
        return process

    def wait_answering(self, *, ready: bool, timeout: float = READY_TIMEOUT_S) -> int:
        """Until /readyz answers (200 when ``ready``, any status otherwise); the status."""
        deadline = time.monotonic() + timeout
        while True:
            process = self.host.processes["gateway"]
            if not process.alive():
                raise HostError(f"{self.org}'s gateway exited:\n{process.tail()}")
            try:
                status = self.gateway.http.get("/readyz").status_code
                if status == 200 or not ready:
                    return status
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise HostError(f"{self.org}'s gateway not ready:\n{process.tail()}")
            time.sleep(POLL_S)

    def lose(self) -> int:
        """SIGKILL every process of this host (database, ordering, gateway)."""
        return self.host.kill_all()

    @property
    def config(self) -> Path:
        """The gateway config the unit runs (the kit's)."""
        return self.kit / "gateway" / "medgate.toml"

    def head_height(self) -> int:
        head = self.gateway.read_state(lambda s: s.head())
        assert head is not None
        return head.height
