"""A release whose access.record the custodian signed with its old key while its own rotation was
in flight: the record is committed KEY_RETIRED and signed again with the new key, and the release's
``X-Medgate-Access-Tx`` names the entry signed again (VALID, replayable), never the retired one.

hospital-a's gateway (``open_gateway`` over a real socket) runs with its block timer off; the test
cuts blocks itself, and stops cutting while it orders the update and lets hospital-a record a
release behind it, so that the update and the record land in one block in that order."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gateway.cli.main import main
from gateway.clock import utcnow
from gateway.identity.files import load_private_key
from gateway.identity.rotation import begin_signing
from ledger.entries import decode_entry, encode_cut
from ledger.ids import OrgId
from ledger.ordering.solo import SoloOrdering
from ledger.validation.codes import ValidationCode
from tests.gateway.audit.harness import run_async
from tests.gateway.rotation.harness import MRN_SYSTEM, POLLS, Net, rotation_net

VALID, KEY_RETIRED = int(ValidationCode.VALID), int(ValidationCode.KEY_RETIRED)
CUTS = 60_000  # x 10 ms: the cutter's bound


class Cutter:
    """What a node's block timer does, done on another thread: a cut marker after the log's last
    position every 10 ms, except while paused (``pause`` returns once no marker can follow)."""

    def __init__(self, log: Path) -> None:
        self._log = log
        self._lock = threading.Lock()
        self._paused = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        log = SoloOrdering(self._log)
        try:
            for _ in range(CUTS):
                if self._stop.is_set():
                    return
                with self._lock:
                    if not self._paused:
                        after = await log.last_position()
                        await log.submit(encode_cut(OrgId("hospital-a"), after), f"cut:{after}")
                await asyncio.sleep(0.01)
        finally:
            await log.close()

    def pause(self) -> None:
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def __enter__(self) -> Cutter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    with rotation_net(tmp_path, running=("hospital-a",), cut_after=3600.0) as running:
        yield running


def _log(net: Net) -> Path:
    return net.root / "consortium" / "ordering.db"


def _last_position(net: Net) -> int:
    async def ask() -> int:
        log = SoloOrdering(_log(net))
        try:
            return await log.last_position()
        finally:
            await log.close()

    return run_async(ask())


def _wait(probe: Any, what: str) -> None:
    for _ in range(POLLS):
        if probe():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _patient(net: Net) -> str:
    mrn = f"MRN-{secrets.token_hex(4)}"
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": MRN_SYSTEM, "value": mrn}],
        "name": [{"family": "Okafor", "given": ["Ada"]}],
        "birthDate": "1980-01-02",
    }
    pid = net.create("hospital-a", patient)
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2026-02-03T10:00:00Z",
        "valueQuantity": {"value": 64, "unit": "/min"},
    }
    net.create("hospital-a", observation)
    return mrn


def test_the_release_names_the_record_signed_again_not_the_retired_one(net: Net) -> None:
    requester = load_private_key(net.root / "hospital-d" / "keys" / "signing.key")
    with Cutter(_log(net)) as cutter:
        mrn = _patient(net)
        node = net.node("hospital-a")
        cutter.pause()
        _wait(lambda: node.committer.synced_position >= _last_position(net), "hospital-a in sync")
        old = node.signing_key
        body = begin_signing(net.settings["hospital-a"], utcnow())
        new_kid = body["add_signing_key"]["kid"]
        update = net.signed("hospital-a", "member.update", body, key=old, endorsers=("agency-c",))
        net.order(update)
        at = _last_position(net)
        with ThreadPoolExecutor(max_workers=1) as pool:
            asking = pool.submit(net.peer_query, mrn, requester)
            _wait(lambda: _last_position(net) > at, "the release's record behind the update")
            assert not asking.done()  # it waits for its record's commit meanwhile
            cutter.resume()
            answer = asking.result(timeout=60)
        assert answer.status_code == 200, answer.text
        access_tx = answer.headers["X-Medgate-Access-Tx"]
        assert net.code("hospital-a", access_tx) == VALID
        assert net.entry_kid("hospital-a", access_tx) == new_kid

    # The record signed first is in the log right behind the update, KEY_RETIRED, another tx.
    def behind_update(store: Any) -> tuple[str, str, int]:
        found = store.entry_by_tx(update[1])
        first = store.entries(found.index + 1, 1)[0]
        return decode_entry(first.leaf).type, first.tx_id, first.code

    kind, retired_tx, code = net.read("hospital-a", behind_update)
    assert (kind, code) == ("access.record", KEY_RETIRED)
    assert retired_tx != access_tx
    # What the client was given is what an auditor replays.
    config = str(net.config("hospital-a"))
    assert main(["audit", "replay", access_tx, "--config", config]) == 0
