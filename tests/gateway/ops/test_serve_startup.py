"""`medgate serve` startup failures: one clear JSON log line naming the cause, a non-zero exit
code, no traceback (a busy port used to end in uvicorn's message and a bare exit)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from gateway.fileperms import private_files
from tests.gateway.member import Member, write_member

ROOT = Path(__file__).resolve().parents[3]


def _serve(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config)]
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, env=env
    )


def _member(tmp_path: Path) -> Member:
    """A member folder as ``medgate init`` leaves it (private): else serve's warning about
    readable files would be a second line."""
    with private_files():
        return write_member(tmp_path)


def _one_line(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line: dict[str, object] = json.loads(lines[0])
    assert line["level"] == "error"
    return line


def test_a_busy_port_is_one_line_and_exit_3(tmp_path: Path) -> None:
    member = _member(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {"MEDGATE_SERVER__PORT": str(port), "PATH": "/usr/bin:/bin"}
        done = _serve(member.config, env)
    assert done.returncode == 3
    assert _one_line(done)["message"] == f"cannot start: port {port} on 127.0.0.1 is in use"


def test_a_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    member = _member(tmp_path)
    text = member.config.read_text().replace('role = "hospital"', 'role = "pharmacy"')
    member.config.write_text(text)
    done = _serve(member.config)
    assert done.returncode == 2
    message = str(_one_line(done)["message"])
    assert message.startswith(f"cannot start: bad config {member.config}: role:")


def test_an_unreachable_store_is_one_line_and_exit_4(tmp_path: Path) -> None:
    member = _member(tmp_path)
    env = {
        # Nothing listens on port 1: the connection is refused at once.
        "MEDGATE_STORAGE__LEDGER_URL": "postgresql+psycopg://medgate:s3cr3t-pw@127.0.0.1:1/x",
        "PATH": "/usr/bin:/bin",
    }
    done = _serve(member.config, env)
    assert done.returncode == 4
    line = _one_line(done)
    assert str(line["message"]).startswith("cannot start: ")
    assert "s3cr3t-pw" not in done.stderr
