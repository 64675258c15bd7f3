"""Render real member kits (`medgate deploy render`) for tests: a consortium from `medgate init`,
every member's kit on loopback with its own ports, NATS routes between them."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from gateway.identity.consortium import MemberSpec, create_consortium
from tests.support.nats_cluster import free_port

MEDGATE = str(Path(sys.executable).parent / "medgate")
MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-b", "hospital"),
    MemberSpec("insurer", "insurer"),
]


@dataclass(frozen=True)
class MemberKit:
    org: str
    dir: Path
    https_port: int
    client_port: int
    cluster_port: int
    monitor_port: int

    @property
    def config(self) -> Path:
        return self.dir / "gateway" / "medgate.toml"


def run_medgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MEDGATE, *args], capture_output=True, text=True, timeout=120, check=False
    )


def render_kits(
    root: Path, database_urls: dict[str, tuple[str, str]] | None = None
) -> dict[str, MemberKit]:
    """Init a 3-member consortium whose endpoints are https://127.0.0.1:<port> and render each
    member's kit into ``root/kits/<org>``; ``database_urls`` gives each member's store and ledger
    URLs (default: the render's PostgreSQL placeholders)."""
    ports = {m.org: [free_port() for _ in range(4)] for m in MEMBERS}
    urls = {org: f"https://127.0.0.1:{p[0]}" for org, p in ports.items()}
    create_consortium(root / "init", "deploy test", MEMBERS, urls=urls)
    kits = {}
    for org, (https, client, cluster, monitor) in ports.items():
        # Every member on one host: each route names its member (ORG=HOST:PORT).
        peers = ",".join(f"{o}=127.0.0.1:{p[2]}" for o, p in ports.items() if o != org)
        out = root / "kits" / org
        args = [
            "deploy", "render",
            "--config", str(root / "init" / org / "medgate.toml"),
            "--out", str(out),
            "--host", "127.0.0.1",
            "--bind", "127.0.0.1",
            "--nats-listen", f"127.0.0.1:{client}",
            "--nats-cluster-listen", f"127.0.0.1:{cluster}",
            "--nats-monitor-listen", f"127.0.0.1:{monitor}",
            "--nats-peers", peers,
        ]  # fmt: skip
        if database_urls is not None:
            store, ledger = database_urls[org]
            args += ["--database-url", store, "--ledger-database-url", ledger]
        done = run_medgate(*args)
        assert done.returncode == 0, done.stderr
        kits[org] = MemberKit(org, out, https, client, cluster, monitor)
    return kits
