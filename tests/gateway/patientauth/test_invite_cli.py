"""`medgate patient invite`: prints a code and where to sign in, for held patients only."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from tests.gateway.patientauth.conftest import ALICE, MRN_SYSTEM, Hospital
from tests.gateway.patientauth.flow import (
    Launch,
    authorize,
    code_with_invitation,
    exchange,
    refresh,
)

CODE = re.compile(r"^invitation code: ((?:[A-Z2-9]{4}-){5}[A-Z2-9]{4})$", re.M)


def _invite(config: Path, value: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "gateway.cli.main", "patient", "invite", "--config", str(config)]
    return subprocess.run(
        [*cmd, "--system", MRN_SYSTEM, value],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_printed_code_signs_the_patient_in(hospital: Hospital) -> None:
    done = _invite(hospital.member.config, ALICE)
    assert done.returncode == 0, done.stderr
    found = CODE.search(done.stdout)
    assert found is not None, done.stdout
    assert f"sign in at:      {hospital.settings.public_url}/portal" in done.stdout
    assert ALICE not in done.stdout
    launch = Launch.new(hospital.settings.public_url)
    # The command stamps the invitation with the wall clock: move the gateway's clock there.
    hospital.clock.now = int(time.time())
    answer = exchange(hospital.http, launch, code_with_invitation(hospital.http, launch, found[1]))
    assert answer.status_code == 200, answer.text


def test_unknown_patients_and_bad_configs_are_refused(hospital: Hospital, tmp_path: Path) -> None:
    unknown = _invite(hospital.member.config, "MRN-NOT-HERE")
    assert unknown.returncode == 1
    assert "holds no patient" in unknown.stderr
    assert unknown.stdout == ""
    missing = _invite(tmp_path / "nowhere.toml", ALICE)
    assert missing.returncode == 2
    assert "patient invite:" in missing.stderr


def test_revoke_ends_every_session_and_voids_unused_codes(hospital: Hospital) -> None:
    http, public = hospital.http, hospital.settings.public_url
    sessions = []
    for _ in range(2):
        launch = Launch.new(public)
        code = code_with_invitation(http, launch, hospital.invite())
        sessions.append(exchange(http, launch, code).json()["refresh_token"])
    unused = hospital.invite()
    cmd = [sys.executable, "-m", "gateway.cli.main", "patient", "revoke", "--config"]
    done = subprocess.run(
        [*cmd, str(hospital.member.config), "--system", MRN_SYSTEM, ALICE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "sessions ended: 2" in done.stdout
    for token in sessions:
        answer = refresh(http, token)
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_grant"
    refused = http.post(
        "/patient/authorize/invitation",
        data={"request": authorize(http, Launch.new(public)), "code": unused},
    )
    assert refused.status_code == 401
