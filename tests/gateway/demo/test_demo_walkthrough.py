"""`medgate demo --no-serve`: four gateways in their own processes walk every flow; exit 0 only if
every step behaved as expected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.modes import loose_paths
from tests.support.ports import free_ports

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.e2e
def test_demo_walks_every_flow_and_exits_zero(tmp_path: Path) -> None:
    base = free_ports(4, consecutive=True)[0]
    cmd = [sys.executable, "-m", "gateway.cli.main", "demo", "--dir", str(tmp_path / "demo")]
    done = subprocess.run(
        [*cmd, "--no-serve", "--base-port", str(base)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]
    assert "FAILED" not in out
    assert out.count("  ok ") >= 15
    assert "proof verified BREAK-GLASS notify-patient" in out
    assert "pending" not in out.split("6. the patient")[1]
    # Keys, databases and gateway logs the demo wrote are private (0600 files, 0700 folders).
    assert loose_paths(tmp_path / "demo") == []
