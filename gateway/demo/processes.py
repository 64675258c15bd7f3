"""Member gateways as separate OS processes (`medgate serve`), supervised by the demo.

The demo owns its children: it refuses to start when a member's port is taken (a gateway left from
an earlier run would otherwise answer in its place), reports which member died and why, and stops
every child (SIGTERM, then SIGKILL) within one shared deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import aiohttp

from gateway.cli.serve_cmd import SUPERVISOR_ENV

STOP_SECONDS = 8.0
"""Every child gone within this (SIGTERM, then SIGKILL): under the 10 s an operator waits."""
TAIL_LINES = 12


class PortInUseError(Exception):
    """A member's port is already bound: by another program or a gateway of an earlier run."""

    def __init__(self, org: str, host: str, port: int) -> None:
        super().__init__(
            f"port {port} on {host} (member {org}) is already in use: stop what holds it, "
            "or choose other ports with --base-port (make demo DEMO_ARGS='--base-port 8501')"
        )
        self.org = org
        self.port = port


class GatewayDiedError(Exception):
    """A member's gateway exited while the demo needed it (org, status, last lines of its log)."""

    def __init__(self, org: str, status: int, log: Path, tail: str) -> None:
        super().__init__(f"gateway {org} exited with status {status}; last lines of {log}:\n{tail}")
        self.org = org
        self.status = status


@dataclass
class GatewayProcess:
    org: str
    url: str
    config: Path
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def log_path(self) -> Path:
        return self.config.parent / "gateway.log"

    def tail(self, lines: int = TAIL_LINES) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join("  | " + line for line in text.splitlines()[-lines:]) or "  | (empty)"

    def died(self) -> GatewayDiedError | None:
        """The child's exit as an error, or None while it runs."""
        status = self.process.poll()
        if status is None:
            return None
        return GatewayDiedError(self.org, status, self.log_path, self.tail())


def check_ports_free(members: Sequence[tuple[str, str]]) -> None:
    """Raises PortInUseError for the first ``(org, url)`` whose host:port cannot be bound now."""
    for org, url in members:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # Connections of an earlier run in TIME_WAIT do not hold the port: only a listener does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                raise PortInUseError(org, host, port) from None


def start_gateway(org: str, url: str, config: Path) -> GatewayProcess:
    """`medgate serve --config` in its own process; its output goes to ``<member>/gateway.log``.
    It runs in its own session, so a terminal's Ctrl-C reaches only the demo, which then stops
    every child in order (rather than four gateways racing their own shutdowns)."""
    log = (config.parent / "gateway.log").open("ab")
    cmd = [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config)]
    # The child stops by itself if this process dies without stopping it (SIGKILL).
    env = {**os.environ, SUPERVISOR_ENV: str(os.getpid())}
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
    )
    return GatewayProcess(org, url, config, process, log)


def stop_all(gateways: Sequence[GatewayProcess], timeout: float = STOP_SECONDS) -> None:
    """SIGTERM every child at once, SIGKILL whatever is left at ``timeout``; closes their logs."""
    for gw in gateways:
        if gw.process.poll() is None:
            gw.process.terminate()
    deadline = time.monotonic() + timeout
    for gw in gateways:
        with contextlib.suppress(subprocess.TimeoutExpired):
            gw.process.wait(max(0.0, deadline - time.monotonic()))
    for gw in gateways:
        if gw.process.poll() is None:
            gw.process.kill()
            gw.process.wait()
        gw.log.close()


async def watch(gateways: Sequence[GatewayProcess], every: float = 0.2) -> GatewayDiedError:
    """Returns (as a value) the first child found dead; runs until one dies or it is cancelled."""
    while True:
        for gw in gateways:
            died = gw.died()
            if died is not None:
                return died
        await asyncio.sleep(every)


async def wait_ready(gateways: list[GatewayProcess], timeout: float = 60.0) -> None:
    """Until every gateway answers /readyz 200 (bounded); raises GatewayDiedError naming a
    gateway that exited, TimeoutError naming one that never became ready."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as session:
        for gw in gateways:
            while True:
                died = gw.died()
                if died is not None:
                    raise died
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{gw.url}/readyz") as resp:
                        if resp.status == 200:
                            break
                if loop.time() > deadline:
                    raise TimeoutError(f"gateway {gw.org} not ready after {timeout} s")
                await asyncio.sleep(0.1)
