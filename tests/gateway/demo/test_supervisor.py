"""`medgate demo` as a supervisor of its four gateway processes, tested on real demos: a signal
stops every child, a dead child is named with its status and log, a busy port is refused at once."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_ports

ROOT = Path(__file__).resolve().parents[3]
STOP_BOUND_S = 10
READY_LINE = "Stop with Ctrl-C or SIGTERM."


def _demo(root: Path, base: int, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "gateway.cli.main", "demo", "--dir", str(root)]
    return subprocess.Popen(
        [*cmd, "--base-port", str(base), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _until_serving(demo: subprocess.Popen[str]) -> dict[str, int]:
    """Reads the demo's output until it serves; returns each member's gateway pid."""
    assert demo.stdout is not None
    pids: dict[str, int] = {}
    for line in demo.stdout:  # bounded by the test timeout; the demo prints READY_LINE last
        found = re.match(r"\s+(\S+)\s+http://\S+\s+\(pid (\d+),", line)
        if found:
            pids[found.group(1)] = int(found.group(2))
        if READY_LINE in line:
            return pids
    raise AssertionError(f"demo ended before serving: {demo.wait()} {demo.stderr.read()}")  # type: ignore[union-attr]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, int]]]:
    with _demo(tmp_path / "demo", free_ports(4, consecutive=True)[0]) as demo:
        try:
            yield demo, _until_serving(demo)
        finally:
            if demo.poll() is None:
                demo.kill()


@pytest.mark.e2e
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_every_gateway(
    serving: tuple[subprocess.Popen[str], dict[str, int]], signum: signal.Signals
) -> None:
    demo, pids = serving
    assert sorted(pids) == ["agency-d", "hospital-a", "hospital-b", "insurer-c"]
    assert all(_alive(pid) for pid in pids.values())
    demo.send_signal(signum)
    assert demo.wait(timeout=STOP_BOUND_S) == 0
    assert [org for org, pid in pids.items() if _alive(pid)] == []
    assert "Traceback" not in (demo.stderr.read() if demo.stderr else "")


@pytest.mark.e2e
def test_a_dead_gateway_is_named_with_its_status_and_log(
    serving: tuple[subprocess.Popen[str], dict[str, int]],
) -> None:
    demo, pids = serving
    os.kill(pids["insurer-c"], signal.SIGKILL)
    assert demo.wait(timeout=STOP_BOUND_S) == 1
    err = demo.stderr.read() if demo.stderr else ""
    assert "gateway insurer-c exited with status -9" in err
    assert "insurer-c/gateway.log:\n  | " in err  # the last lines of its log follow
    assert [org for org, pid in pids.items() if _alive(pid)] == []


@pytest.mark.e2e
def test_a_busy_port_fails_at_once_naming_it(tmp_path: Path) -> None:
    base = free_ports(4, consecutive=True)[0]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", base + 2))
        holder.listen()
        demo = _demo(tmp_path / "demo", base, "--no-serve")
        out, err = demo.communicate(timeout=60)
    assert demo.returncode == 3
    assert err.strip().splitlines() == [err.strip()]  # one line
    assert f"port {base + 2} on 127.0.0.1 (member insurer-c) is already in use" in err
    assert "Traceback" not in out + err
    assert not (tmp_path / "demo").exists()  # refused before creating anything
