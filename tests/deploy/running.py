"""Run rendered kits as their systemd units would: each process started with the exact command
line of its unit's ExecStart, in its WorkingDirectory. For the deploy tests and the multi-host
harness."""

from __future__ import annotations

import configparser
import contextlib
import os
import shlex
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support.nats_cluster import _get_json

READY_TIMEOUT_S = 90.0
POLL_S = 0.1


def exec_start(unit: Path) -> tuple[list[str], Path]:
    """The unit's ExecStart argv and WorkingDirectory."""
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text())
    service = parser["Service"]
    return shlex.split(service["ExecStart"]), Path(service["WorkingDirectory"])


@contextlib.contextmanager
def unit_process(unit: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The unit's ExecStart as a child process (SIGTERM, then SIGKILL, at exit)."""
    argv, cwd = exec_start(unit)
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def ca_context(ca_pem: Path) -> ssl.SSLContext:
    """A client context trusting only ``ca_pem`` (a member's organisation CA)."""
    return ssl.create_default_context(cafile=str(ca_pem))


def wait_nats_ready(
    monitor_ports: list[int], procs: list[subprocess.Popen[bytes]], logs: list[Path]
) -> None:
    """Bounded wait until every server is healthy with a JetStream meta leader."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    pending = set(range(len(monitor_ports)))
    while pending:
        for i in sorted(pending):
            if procs[i].poll() is not None:
                raise RuntimeError(
                    f"nats server exited:\n{logs[i].read_text(errors='replace')[-3000:]}"
                )
            meta = (_get_json(monitor_ports[i], "/jsz") or {}).get("meta_cluster")
            if isinstance(meta, dict) and meta.get("leader"):
                pending.discard(i)
        if time.monotonic() > deadline:
            tails = "\n".join(log.read_text(errors="replace")[-2000:] for log in logs)
            raise RuntimeError(f"nats cluster not ready:\n{tails}")
        time.sleep(POLL_S)


def wait_gateway_ready(client: httpx.Client, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"gateway exited {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
            )
        with contextlib.suppress(httpx.TransportError):
            if client.get("/readyz").status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"gateway not ready:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(POLL_S)
