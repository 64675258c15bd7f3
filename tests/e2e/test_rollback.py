"""A gateway whose ledger store was restored from an older copy refuses to release until an
operator clears it, and `medgate ledger verify` reports the store as behind: real gateway
processes, a real restore (the SQLite file copied back), the real CLI."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from gateway.identity.consortium import MemberSpec
from gateway.services.watermark import load_watermark
from tests.e2e.flows import ask, seed
from tests.e2e.gateways import MEDGATE, Consortium, Gateway, wait_for

pytestmark = pytest.mark.e2e

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-b", "hospital"),
    MemberSpec("insurer", "insurer"),
]


def _stop(gateway: Gateway) -> None:
    assert gateway.process is not None
    gateway.process.terminate()
    gateway.process.wait(timeout=15)


def _start(gateway: Gateway) -> None:
    with (gateway.folder / "serve.log").open("ab") as log:
        gateway.process = subprocess.Popen(
            [MEDGATE, "serve", "--config", str(gateway.folder / "medgate.toml")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def answering() -> int | None:
        assert gateway.process is not None
        assert gateway.process.poll() is None, (gateway.folder / "serve.log").read_text()[-3000:]
        try:
            return gateway.http.get("/readyz").status_code
        except httpx.TransportError:
            return None

    wait_for(answering, f"{gateway.org} answering", 60)


def _snapshot(db: Path, into: Path) -> None:
    """A consistent copy of a SQLite store, as a backup tool would take it."""
    with sqlite3.connect(db) as source, sqlite3.connect(into) as target:
        source.backup(target)


def _restore(copy: Path, db: Path) -> None:
    for side in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        side.unlink(missing_ok=True)
    shutil.copy(copy, db)


def _head(gateway: Gateway) -> int:
    head = gateway.read_state(lambda store: store.head())
    assert head is not None
    return head.height


def _verify(gateway: Gateway, *extra: str) -> tuple[int, dict[str, object], str]:
    config = str(gateway.folder / "medgate.toml")
    done = subprocess.run(
        [MEDGATE, "ledger", "verify", "--config", config, "--quiet", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _refused(response: httpx.Response) -> str:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    diagnostics = body["issue"][0]["diagnostics"]
    assert isinstance(diagnostics, str)
    return diagnostics


def test_a_rolled_back_store_is_refused_and_reported(tmp_path: Path) -> None:
    with Consortium(tmp_path, MEMBERS) as c:
        a, b = c["hospital-a"], c["hospital-b"]
        patient = seed(a, claims=0)
        assert ask(b, "hospital-a", patient.national_id, "TREAT", ["Observation"]).is_success
        db, record = a.folder / "data" / "ledger.db", a.folder / "data" / "ledger-watermark.json"
        wait_for(lambda: load_watermark(record).signed, "hospital-a's first record")
        _stop(a)
        _snapshot(db, tmp_path / "ledger-backup.db")
        shutil.copy(record, tmp_path / "watermark-backup.json")
        old = load_watermark(record).signed
        assert old is not None

        _start(a)
        for _ in range(3):  # a block each: every access is recorded on the ledger
            before = _head(a)
            answer = ask(b, "hospital-a", patient.national_id, "TREAT", ["Observation"])
            assert answer.is_success, answer.text
            wait_for(lambda: _head(a) > before, "the access record's block")  # noqa: B023
        signed = wait_for(
            lambda: (s := load_watermark(record).signed) and s.height > old.height + 1 and s,
            "hospital-a's record to move on",
        )
        _stop(a)
        _restore(tmp_path / "ledger-backup.db", db)

        # The operator's tool: internally consistent, but behind what the member signed ...
        code, summary, err = _verify(a)
        assert code == 3, (summary, err)
        assert "BEHIND" in err
        assert f"height {signed.height}" in err or f"height {old.height}" in err
        # ... and behind the consortium, asked of a peer (its cosigned checkpoint).
        code, summary, err = _verify(a, "--against", b.url)
        assert code == 3, (summary, err)
        assert f"BEHIND against {b.url}" in err
        assert {
            "source": f"{b.url}'s cosigned checkpoint",
            "standing": "behind",
        }.items() <= summary["references"][0].items()

        # The gateway refuses to release, names why, and stays so after catching up.
        _start(a)
        assert "behind" in _refused(a.http.get("/readyz"))
        refused = ask(b, "hospital-a", patient.national_id, "TREAT", ["Observation"])
        assert "behind" in _refused(refused)
        wait_for(lambda: _head(a) >= signed.height, "hospital-a to catch up from the log")
        assert a.http.get("/readyz").status_code == 503

        clear = a.http.post(
            "/ledger/alarm/clear",
            json={"note": "restored from backup; verified against hospital-b"},
            headers=a.auth("system/Ledger.write"),
        )
        assert clear.status_code == 200, clear.text
        assert "behind" in clear.json()["rollback_cleared"]
        assert a.http.get("/readyz").status_code == 200
        assert ask(b, "hospital-a", patient.national_id, "TREAT", ["Observation"]).is_success

        # A whole data folder restored (the record too): our own checkpoints on the consortium's
        # checkpoint stream still show what this member signed.
        _stop(a)
        _restore(tmp_path / "ledger-backup.db", db)
        shutil.copy(tmp_path / "watermark-backup.json", record)
        _start(a)
        assert "behind" in _refused(a.http.get("/readyz"))
