"""Rotation on `medgate serve` processes: each member's gateway in its own OS process, the keys
rotated with `medgate member rotate` beside it, the member.update endorsed by another member's
own key and ordered on the shared log. The gateways are never restarted: requests before, during
and after every update succeed. (The overlap's end is driven on a manual clock in
tests/gateway/rotation: these processes read the wall clock, and a test never sleeps for it.)"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.auth import jwt
from gateway.clock import now_ms
from gateway.identity.consortium import MemberSpec
from gateway.identity.files import load_private_key
from ledger.entries import decode_entry, make_tx, nonce_from_bytes, sign_entry, tx_id_of
from ledger.ids import OrgId, TxId
from ledger.ordering.solo import SoloOrdering
from ledger.signing import kid_of
from ledger.state import member
from tests.e2e import flows, records
from tests.e2e.gateways import MEDGATE, Consortium, Gateway, wait_for

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-b", "hospital"),
    MemberSpec("agency", "agency"),
]
TRAFFIC_LIMIT = 400


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with Consortium(tmp_path_factory.mktemp("rotation-e2e"), MEMBERS) as consortium:
        yield consortium


@pytest.fixture(scope="module")
def seeded(net: Consortium) -> str:
    custodian = net["hospital-a"]
    headers = custodian.auth()
    national_id = f"NID-{secrets.token_hex(6)}"
    pid = custodian.create(records.patient(national_id, "Okonkwo", "Ada"), headers)
    custodian.create(records.observation(pid, 64), headers)
    return national_id


def rotate(gateway: Gateway, *flags: str) -> subprocess.CompletedProcess[str]:
    config = str(gateway.folder / "medgate.toml")
    return subprocess.run(
        [MEDGATE, "member", "rotate", "--config", config, *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def propose(net: Consortium, org: str, body: dict[str, Any]) -> TxId:
    """``org``'s member.update, signed with its key in force, endorsed by the agency's own key,
    ordered on the consortium's log (as a proposal reaching quorum is)."""
    key = load_private_key(net[org].folder / "keys" / "signing.key")
    endorser = load_private_key(net["agency"].folder / "keys" / "signing.key")
    nonce = nonce_from_bytes(secrets.token_bytes(16))
    tx = make_tx("member.update", OrgId(org), kid_of(key.public_key()), now_ms(), nonce, body)
    leaf, tx_id = sign_entry(tx, key, {OrgId("agency"): endorser}), tx_id_of(tx)

    async def order() -> None:
        log = SoloOrdering(net[org].folder.parent / "consortium" / "ordering.db")
        try:
            await log.submit(leaf, tx_id)
        finally:
            await log.close()

    asyncio.run(order())
    return tx_id


def committed(gateway: Gateway, tx_id: str) -> int:
    entry = wait_for(
        lambda: gateway.read_state(lambda s: s.entry_by_tx(TxId(tx_id))),
        f"{tx_id} committed at {gateway.org}",
    )
    return entry.code


class Traffic:
    """hospital-b's EHR querying hospital-a through hospital-b's gateway on another thread."""

    def __init__(self, requester: Gateway, national_id: str) -> None:
        self.statuses: list[int] = []
        self._requester, self._id = requester, national_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        body = {
            "custodian": "hospital-a",
            "patient": {"system": records.NATIONAL_ID, "value": self._id},
            "purpose": "TREAT",
            "resource_types": ["Observation"],
        }
        headers = self._requester.auth()
        with httpx.Client(base_url=self._requester.url, timeout=60) as http:
            for _ in range(TRAFFIC_LIMIT):
                if self._stop.is_set():
                    return
                self.statuses.append(
                    http.post("/outbound/query", json=body, headers=headers).status_code
                )

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        seen = len(self.statuses)
        wait_for(lambda: len(self.statuses) >= seen + 3 or not self._thread.is_alive(), "traffic")
        self._stop.set()
        self._thread.join(timeout=60)


def query_ok(net: Consortium, national_id: str) -> httpx.Response:
    answer = flows.ask(net["hospital-b"], "hospital-a", national_id, "TREAT", ["Observation"])
    assert answer.status_code == 200, answer.text
    return answer


def test_custodian_signing_rotation_without_restart(net: Consortium, seeded: str) -> None:
    hospital = net["hospital-a"]
    keys = hospital.folder / "keys"
    old_kid = kid_of(load_private_key(keys / "signing.key").public_key())
    query_ok(net, seeded)  # before

    made = rotate(hospital, "--signing")
    assert made.returncode == 0, made.stderr
    body = json.loads(made.stdout)
    new_kid = body["add_signing_key"]["kid"]
    assert body["retire_kid"] == old_kid
    with Traffic(net["hospital-b"], seeded) as traffic:  # during
        tx_id = propose(net, "hospital-a", body)
        assert committed(hospital, tx_id) == 0
        assert committed(net["hospital-b"], tx_id) == 0
    assert traffic.statuses
    assert set(traffic.statuses) == {200}, traffic.statuses

    # After: hospital-a's process records its releases under the new key, valid.
    def recorded_with_new_key() -> bool:
        access = query_ok(net, seeded).headers["X-Medgate-Access-Tx"]
        committed(net["hospital-b"], access)
        entry = net["hospital-b"].read_state(lambda s: s.entry_by_tx(TxId(access)))
        return (
            entry is not None and entry.code == 0 and decode_entry(entry.leaf).tx["kid"] == new_kid
        )

    wait_for(recorded_with_new_key, "an access.record under the new key")
    done = rotate(hospital, "--finish")
    assert done.returncode == 0, done.stderr
    assert kid_of(load_private_key(keys / "signing.key").public_key()) == new_kid
    assert (keys / "retired" / f"signing-{old_kid}.key").is_file()
    query_ok(net, seeded)
    assert hospital.process is not None
    assert hospital.process.poll() is None  # never restarted


def test_requester_encryption_rotation_without_restart(net: Consortium, seeded: str) -> None:
    requester = net["hospital-b"]
    made = rotate(requester, "--encryption")
    assert made.returncode == 0, made.stderr
    body = json.loads(made.stdout)
    new_kid = body["encryption_keys"][0]["kid"]
    with Traffic(requester, seeded) as traffic:
        tx_id = propose(net, "hospital-b", body)
        assert committed(net["hospital-a"], tx_id) == 0
        assert committed(requester, tx_id) == 0
    assert traffic.statuses
    assert set(traffic.statuses) == {200}, traffic.statuses
    # hospital-a now seals to the new key only; hospital-b's process opens it (next key held).
    record = net["hospital-a"].read_state(lambda s: member(s, "hospital-b"))
    assert record is not None
    assert [k.kid for k in record.encryption_keys] == [new_kid]
    query_ok(net, seeded)
    done = rotate(requester, "--finish")
    assert done.returncode == 0, done.stderr
    query_ok(net, seeded)


def test_token_rotation_is_picked_up_by_the_running_gateway(net: Consortium) -> None:
    hospital = net["hospital-a"]
    old = hospital.auth()
    old_kid = jwt.unverified_kid(old["Authorization"].split()[1])
    made = rotate(hospital, "--token")
    assert made.returncode == 0, made.stderr
    new_kid = json.loads(made.stdout)["keys"][0]["kid"]
    fresh = hospital.auth()
    assert jwt.unverified_kid(fresh["Authorization"].split()[1]) == new_kid != old_kid
    for headers in (old, fresh):  # the old token within the overlap (900 s), the new one
        assert hospital.http.get("/fhir/Patient", headers=headers).status_code == 200
    assert (hospital.folder / "keys" / "retired" / f"token-{old_kid}.key").is_file()


def test_a_member_folder_holds_no_other_members_private_key(net: Consortium) -> None:
    """Rotation never needs another member's key: each folder's private keys (all but the shared
    patient-pseudonym key) are its own, retired ones included."""
    mine = {}
    for org, gateway in net.gateways.items():
        found = set()
        for path in (gateway.folder / "keys").rglob("*.key"):
            if path.name == "patient.key":
                continue
            found.add(kid_of(load_private_key(path).public_key()))
        mine[org] = found
    orgs = list(mine)
    for i, a in enumerate(orgs):
        for b in orgs[i + 1 :]:
            assert not mine[a] & mine[b]
    assert Path(net["hospital-a"].folder / "keys" / "retired").is_dir()
