"""A serving `medgate demo` in its own process for tests: started on free ports, read until it
serves, killed at the end if the test has not stopped it."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Stop with Ctrl-C or SIGTERM."
STOP_TIMEOUT_S = 15.0
MEMBERS = ("hospital-a", "hospital-b", "insurer-c", "agency-d")
"""The demo's members, on base_port + 0..3 in this order."""


@dataclass
class ServingDemo:
    root: Path
    base_port: int
    process: subprocess.Popen[str]
    pids: dict[str, int]
    """Each member's gateway pid, as the demo printed them."""

    def url(self, org: str) -> str:
        return f"http://127.0.0.1:{self.base_port + MEMBERS.index(org)}"


def start_demo(root: Path, base: int, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "gateway.cli.main", "demo", "--dir", str(root)]
    return subprocess.Popen(
        [*cmd, "--base-port", str(base), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _until_serving(demo: subprocess.Popen[str]) -> dict[str, int]:
    assert demo.stdout is not None
    pids: dict[str, int] = {}
    for line in demo.stdout:  # bounded by the test timeout; the demo prints READY_LINE last
        found = re.match(r"\s+(\S+)\s+http://\S+\s+\(pid (\d+),", line)
        if found:
            pids[found.group(1)] = int(found.group(2))
        if READY_LINE in line:
            return pids
    err = demo.stderr.read() if demo.stderr else ""
    raise AssertionError(f"demo ended before serving: {demo.wait()} {err}")


@contextmanager
def serving_demo(root: Path) -> Iterator[ServingDemo]:
    """A demo that serves until the block ends; then SIGTERM, which stops its gateways (a SIGKILL
    would leave them to notice their supervisor is gone)."""
    base = free_ports(len(MEMBERS), consecutive=True)[0]
    with start_demo(root, base) as process:
        try:
            yield ServingDemo(root, base, process, _until_serving(process))
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
