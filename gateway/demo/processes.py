"""Member gateways as separate OS processes (`medgate serve`), started and stopped by the demo."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aiohttp


@dataclass
class GatewayProcess:
    org: str
    url: str
    config: Path
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.log.close()


def start_gateway(org: str, url: str, config: Path) -> GatewayProcess:
    """`medgate serve --config` in its own process; its output goes to ``<member>/gateway.log``."""
    log = (config.parent / "gateway.log").open("ab")
    cmd = [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config)]
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - our own CLI
    return GatewayProcess(org, url, config, process, log)


async def wait_ready(gateways: list[GatewayProcess], timeout: float = 60.0) -> None:
    """Until every gateway answers /readyz 200 (bounded); fails naming a gateway that died."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as session:
        for gw in gateways:
            while True:
                if gw.process.poll() is not None:
                    tail = (gw.config.parent / "gateway.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(
                        f"gateway {gw.org} exited ({gw.process.returncode}):\n{tail}"
                    )
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{gw.url}/readyz") as resp:
                        if resp.status == 200:
                            break
                if loop.time() > deadline:
                    raise TimeoutError(f"gateway {gw.org} not ready after {timeout} s")
                await asyncio.sleep(0.1)
