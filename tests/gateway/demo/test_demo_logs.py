"""A full `medgate demo --no-serve`: its gateways' JSON logs hold a line per request and per
decision and none of the synthetic patients' identifiers or names; the tx prefixes it prints are
enough for `medgate audit replay`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.demo import synthetic
from tests.support.ports import free_ports

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("demo-logs") / "demo"
    base = free_ports(4, consecutive=True)[0]
    cmd = [sys.executable, "-m", "gateway.cli.main", "demo", "--dir", str(root), "--no-serve"]
    done = subprocess.run(
        [*cmd, "--base-port", str(base)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return root, done.stdout


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "gateway.cli.main", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.e2e
def test_the_logs_name_no_synthetic_patient(demo: tuple[Path, str]) -> None:
    root, _ = demo
    logs = sorted(root.glob("*/gateway.log"))
    assert len(logs) == 4
    text = "\n".join(path.read_text() for path in logs)
    lines = [json.loads(line) for line in text.splitlines() if line]
    assert sum(line["logger"] == "medgate.request" for line in lines) > 40
    assert {line["effect"] for line in lines if line["logger"] == "medgate.decision"} == {
        "permit",
        "deny",
    }
    secrets = [
        value
        for p in synthetic.PATIENTS
        for value in (p.mrn, p.pid, p.given, p.family, p.phone, p.birth_date)
    ]
    hits = [s for s in secrets if s.lower() in text.lower()]
    assert hits == []


@pytest.mark.e2e
def test_audit_replay_takes_the_printed_tx_prefix(demo: tuple[Path, str]) -> None:
    root, out = demo
    prefix = re.findall(r"access\.record ([0-9a-f]{16})", out)[0]
    config = str(root / "hospital-a" / "medgate.toml")
    done = _cli("audit", "replay", prefix, "--config", config)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "confirmed"
    assert report["tx_id"].startswith(prefix)
    unknown = _cli(
        "audit", "replay", "0" * 8 if not prefix.startswith("0") else "f" * 8, "--config", config
    )
    assert unknown.returncode == 2
    assert "no ledger entry has a tx id starting" in unknown.stderr


@pytest.mark.e2e
def test_the_stores_and_logs_are_private_files(demo: tuple[Path, str]) -> None:
    root, _ = demo
    files = [*root.glob("*/data/*"), *root.glob("*/gateway.log"), *root.glob("consortium/*.db")]
    assert len(files) >= 12
    shared = [f"{p} {p.stat().st_mode & 0o777:o}" for p in files if p.stat().st_mode & 0o077]
    assert shared == []
