"""`medgate demo --no-serve`: four gateways in their own processes walk every flow; exit 0 only if
every step behaved as expected."""

from __future__ import annotations

import re
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
    assert "6. the patient" in out, out[-4000:] + done.stderr[-2000:]
    audit_step = out.split("6. the patient")[1]
    assert_audit_counts_every_access(
        out.split("5. the flows")[1].split("6. the patient")[0], audit_step
    )
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]
    assert "FAILED" not in out
    ceremony = out.split("1. the key ceremony")[1].split("2. ")[0]
    steps = [
        "member keygen: hospital-a",
        "consortium genesis",
        "sign: hospital-a",
        "sign: agency-d",
    ]
    for step in [*steps, "consortium seal", "member join"]:
        assert step in ceremony, ceremony
    assert out.count("  ok ") >= 15
    assert "proof verified BREAK-GLASS notify-patient" in out
    assert "pending" not in audit_step
    assert "  ok the patient's app proves that history was not rewritten" in audit_step
    assert "(consistency proof verified)" in audit_step
    # Keys, databases and gateway logs the demo wrote are private (0600 files, 0700 folders).
    assert loose_paths(tmp_path / "demo") == []


def assert_audit_counts_every_access(flows: str, audit_step: str) -> None:
    """The audit step shows one proven row per access the flows made (each printed the
    access.record tx its gateway answered), the denial after the revocation included, and says it
    checked that count."""
    made = flows.count("access.record ")
    rows = [
        line for line in audit_step.splitlines() if re.match(r"\s+#\d+ .* proof verified", line)
    ]
    assert len(rows) == made, audit_step
    assert f"{made} accesses made, {made} in the patient's log" in audit_step
    # Before the consent and after its revocation: both denials are in the patient's log.
    assert len([r for r in rows if "insurer-c   HPAYMT   deny" in r]) == 2, audit_step
    assert "!! the patient reads" not in audit_step
