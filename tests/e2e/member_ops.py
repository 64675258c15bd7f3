"""Operations on one member of a running e2e consortium: stop and restart its gateway process,
snapshot and restore its ledger store, read its head, run `medgate ledger verify` on it."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import httpx

from tests.e2e.gateways import MEDGATE, Gateway, wait_for


def stop_member(gateway: Gateway) -> None:
    assert gateway.process is not None
    gateway.process.terminate()
    gateway.process.wait(timeout=15)


def start_member(gateway: Gateway) -> None:
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


def snapshot(db: Path, into: Path) -> None:
    """A consistent copy of a SQLite store, as a backup tool would take it."""
    with sqlite3.connect(db) as source, sqlite3.connect(into) as target:
        source.backup(target)


def restore(copy: Path, db: Path) -> None:
    for side in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        side.unlink(missing_ok=True)
    shutil.copy(copy, db)


def head_height(gateway: Gateway) -> int:
    head = gateway.read_state(lambda store: store.head())
    assert head is not None
    return head.height


def verify_member(gateway: Gateway, *extra: str) -> tuple[int, dict[str, object], str]:
    config = str(gateway.folder / "medgate.toml")
    done = subprocess.run(
        [MEDGATE, "ledger", "verify", "--config", config, "--quiet", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1]), done.stderr
