"""SIGKILL a committing member node at random points, many times: nothing acknowledged is lost.

After every kill `ledger verify` passes on the store as the kill left it; at the end every entry whose
submission was acknowledged is committed exactly once.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from gateway.identity.consortium import MemberSpec, create_consortium
from ledger.ordering.base import Ordered
from ledger.storage.sql import SqlStore
from ledger.validation.codes import ValidationCode
from ledger.verify import verify_store

ROOT_DIR = Path(__file__).resolve().parents[3]
KILLS = 12


def _worker(root: Path, ackfile: Path, count: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tests.ledger.node.crash_worker", str(root), "hospital-a"]
    return subprocess.Popen([*cmd, str(ackfile), str(count)], cwd=ROOT_DIR)


def _verify(root: Path) -> None:
    """Verify the store against the ordering log: each block's stored position (where the node
    resumes after the kill) must be where the log closes that block."""
    store = SqlStore(f"sqlite:///{root / 'hospital-a' / 'data' / 'ledger.db'}")
    log = sqlite3.connect(root / "consortium" / "ordering.db")
    try:
        rows = log.execute("SELECT position, data FROM log ORDER BY position").fetchall()
        assert verify_store(store, log=[Ordered(p, bytes(d)) for p, d in rows]).log_checked
    finally:
        log.close()
        store.close()


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    members = [MemberSpec("hospital-a", "hospital"), MemberSpec("insurer-b", "insurer")]
    create_consortium(tmp_path, "crash", members)
    ackfile = tmp_path / "acks.txt"
    # Commit genesis first: a kill during the very first start-up would otherwise leave an empty
    # store, which is consistent (nothing was acknowledged) but has nothing for verify to check.
    assert _worker(tmp_path, ackfile, 0).wait(timeout=120) == 0
    rng = random.Random(20261128)
    for _ in range(KILLS):
        proc = _worker(tmp_path, ackfile, 100_000)
        time.sleep(rng.uniform(0.8, 2.5))
        assert proc.poll() is None, "the worker died by itself"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _verify(tmp_path)  # consistent exactly as the kill left it
    drain = _worker(tmp_path, ackfile, 0)
    assert drain.wait(timeout=120) == 0
    _verify(tmp_path)

    acked = ackfile.read_text().split()
    assert len(acked) > KILLS * 10, "too few acknowledged submissions to mean anything"
    store = SqlStore(f"sqlite:///{tmp_path / 'hospital-a' / 'data' / 'ledger.db'}")
    try:
        valid = Counter(
            str(e.tx_id) for e in store.iter_entries() if e.code == ValidationCode.VALID
        )
    finally:
        store.close()
    missing = [tx for tx in acked if valid[tx] == 0]
    assert missing == []
    assert all(valid[tx] == 1 for tx in acked)
    assert max(valid.values()) == 1
