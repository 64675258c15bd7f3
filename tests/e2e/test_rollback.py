"""A gateway whose ledger store was restored from an older copy refuses to release until an
operator clears it, and `medgate ledger verify` reports the store as behind: real gateway
processes, a real restore (the SQLite file copied back), the real CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from gateway.identity.consortium import MemberSpec
from gateway.services.watermark import load_watermark
from tests.e2e.flows import ask, seed
from tests.e2e.gateways import Consortium, wait_for
from tests.e2e.member_ops import (
    head_height,
    restore,
    snapshot,
    start_member,
    stop_member,
    verify_member,
)

pytestmark = pytest.mark.e2e

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-b", "hospital"),
    MemberSpec("insurer", "insurer"),
]


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
        stop_member(a)
        snapshot(db, tmp_path / "ledger-backup.db")
        shutil.copy(record, tmp_path / "watermark-backup.json")
        old = load_watermark(record).signed
        assert old is not None

        start_member(a)
        for _ in range(3):  # a block each: every access is recorded on the ledger
            before = head_height(a)
            answer = ask(b, "hospital-a", patient.national_id, "TREAT", ["Observation"])
            assert answer.is_success, answer.text
            wait_for(lambda: head_height(a) > before, "the access record's block")  # noqa: B023
        signed = wait_for(
            lambda: (s := load_watermark(record).signed) and s.height > old.height + 1 and s,
            "hospital-a's record to move on",
        )
        stop_member(a)
        restore(tmp_path / "ledger-backup.db", db)

        # The operator's tool: internally consistent, but behind what the member signed ...
        code, summary, err = verify_member(a)
        assert code == 3, (summary, err)
        assert "BEHIND" in err
        assert f"height {signed.height}" in err or f"height {old.height}" in err
        # ... and behind the consortium, asked of a peer (its cosigned checkpoint).
        code, summary, err = verify_member(a, "--against", b.url)
        assert code == 3, (summary, err)
        assert f"BEHIND against {b.url}" in err
        assert {
            "source": f"{b.url}'s cosigned checkpoint",
            "standing": "behind",
        }.items() <= summary["references"][0].items()

        # The gateway refuses to release, names why, and stays so after catching up.
        start_member(a)
        assert "behind" in _refused(a.http.get("/readyz"))
        assert "medgate_ledger_rollback_alarm 1" in a.http.get("/metrics").text
        refused = ask(b, "hospital-a", patient.national_id, "TREAT", ["Observation"])
        assert "behind" in _refused(refused)
        wait_for(lambda: head_height(a) >= signed.height, "hospital-a to catch up from the log")
        assert a.http.get("/readyz").status_code == 503

        clear = a.http.post(
            "/ledger/alarm/clear",
            json={"note": "restored from backup; verified against hospital-b"},
            headers=a.auth("system/Ledger.write"),
        )
        assert clear.status_code == 200, clear.text
        assert "behind" in clear.json()["rollback_cleared"]
        assert a.http.get("/readyz").status_code == 200
        assert "medgate_ledger_rollback_alarm 0" in a.http.get("/metrics").text
        assert ask(b, "hospital-a", patient.national_id, "TREAT", ["Observation"]).is_success

        # A whole data folder restored (the record too): our own checkpoints on the consortium's
        # checkpoint stream still show what this member signed.
        stop_member(a)
        restore(tmp_path / "ledger-backup.db", db)
        shutil.copy(tmp_path / "watermark-backup.json", record)
        start_member(a)
        assert "behind" in _refused(a.http.get("/readyz"))
