"""Files with PHI, secrets or keys are private: after `medgate init`, and after (and while) real
`medgate serve` processes have served, every file under the consortium is 0600 and every folder
0700, SQLite's -wal and -shm side files, the ordering log and checkpoints included."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from gateway import fileperms
from tests.e2e import records
from tests.e2e.gateways import MEDGATE, Gateway, wait_for
from tests.support.modes import loose_paths
from tests.support.ports import free_ports

MEMBERS = ("hospital-a:hospital", "insurer-b:insurer")


def _init(root: Path, base: int) -> None:
    argv = [MEDGATE, "init", "--dir", str(root), "--base-port", str(base)]
    for member in MEMBERS:
        argv += ["--org", member]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


@contextmanager
def _serving(gateway: Gateway, log: Path) -> Iterator[None]:
    with log.open("wb") as out:  # outside the consortium's tree: the test's file, not medgate's
        process = subprocess.Popen(
            [MEDGATE, "serve", "--config", str(gateway.folder / "medgate.toml")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def ready() -> bool:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                return gateway.http.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, f"{gateway.org} ready", 60)
        yield
    finally:
        process.terminate()
        process.wait(timeout=15)
        gateway.http.close()


def test_init_and_serve_create_only_private_files(tmp_path: Path) -> None:
    root, logs = tmp_path / "consortium", tmp_path / "logs"
    logs.mkdir()
    base = free_ports(len(MEMBERS), consecutive=True)[0]
    _init(root, base)
    assert loose_paths(root) == []
    assert (root / "hospital-a" / "keys" / "signing.key").is_file()

    gateways = [
        Gateway(org, role, f"http://127.0.0.1:{base + n}", root / org)
        for n, (org, role) in enumerate(m.split(":") for m in MEMBERS)
    ]
    with ExitStack() as stack:
        for gateway in gateways:
            stack.enter_context(_serving(gateway, logs / f"{gateway.org}.log"))
        hospital = gateways[0]
        hospital.create(records.patient("NID-0600", "Modes", "Ada"), hospital.auth())
        data = root / "hospital-a" / "data"
        written = {p.name for p in data.iterdir()}
        assert {"gateway.db", "ledger.db", "ledger.db-wal", "ledger.db-shm"} <= written, written
        assert {"ordering.db", "checkpoints.db", "proposals.db"} <= {
            p.name for p in (root / "consortium").iterdir()
        }
        assert loose_paths(root) == []
    assert loose_paths(root) == []


def test_the_helper_sees_a_loose_file(tmp_path: Path) -> None:
    (tmp_path / "open.db").write_bytes(b"")
    (tmp_path / "open.db").chmod(0o644)
    assert loose_paths(tmp_path) == [f"0644 {tmp_path.name}/open.db"]


def test_serve_names_loose_files_left_by_older_versions(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir(mode=0o700)
    (tmp_path / "keys" / "signing.key").write_bytes(b"")
    (tmp_path / "keys" / "signing.key").chmod(0o644)
    (tmp_path / "data").mkdir(mode=0o755)
    (tmp_path / "data").chmod(0o755)
    tmp_path.chmod(0o700)
    assert fileperms.loose_paths(tmp_path) == [tmp_path / "data", tmp_path / "keys" / "signing.key"]
    assert fileperms.loose_paths(tmp_path, limit=1) == [tmp_path / "data"]
