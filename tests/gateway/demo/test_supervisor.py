"""`medgate demo` as a supervisor of its four gateway processes, tested on real demos: a signal
stops every child, a dead child is named with its status and log, a busy port is refused at once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.demo import serving_demo, start_demo
from tests.support.ports import free_ports

STOP_BOUND_S = 10


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, int]]]:
    with serving_demo(tmp_path / "demo") as demo:
        yield demo.process, demo.pids


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
def test_the_gateways_stop_by_themselves_when_the_demo_is_killed(
    serving: tuple[subprocess.Popen[str], dict[str, int]],
) -> None:
    demo, pids = serving
    demo.kill()  # SIGKILL: the demo cannot stop its children; they notice it is gone
    demo.wait()
    deadline = time.monotonic() + STOP_BOUND_S  # a bound on the wait, not a timing assertion
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [org for org, pid in pids.items() if _alive(pid)] == []


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
        demo = start_demo(tmp_path / "demo", base, "--no-serve")
        out, err = demo.communicate(timeout=60)
    assert demo.returncode == 3
    assert err.strip().splitlines() == [err.strip()]  # one line
    assert f"port {base + 2} on 127.0.0.1 (member insurer-c) is already in use" in err
    assert "Traceback" not in out + err
    assert not (tmp_path / "demo").exists()  # refused before creating anything


@pytest.mark.e2e
def test_an_existing_demo_folder_is_one_line_without_fresh(tmp_path: Path) -> None:
    (tmp_path / "demo" / "hospital-a").mkdir(parents=True)
    demo = start_demo(tmp_path / "demo", free_ports(4, consecutive=True)[0], "--no-serve")
    out, err = demo.communicate(timeout=60)
    assert demo.returncode == 2
    assert err.strip().splitlines() == [err.strip()]
    assert "exists; add --fresh to start over" in err
    assert "Traceback" not in out + err
