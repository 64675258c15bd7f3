"""Onboarding end to end: three members, each with only its own keys, admit an insurer through
propose and endorse while they keep serving; the newcomer then queries claims with consent; its
removal makes every gateway refuse its peer assertions once the block is committed there."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from gateway.auth.peer import make_peer_assertion
from gateway.identity.consortium import MemberSpec
from gateway.identity.files import load_private_key
from gateway.identity.patient_share import key_check
from gateway.identity.pseudonym import load_patient_key
from gateway.settings import Settings
from ledger.state import member
from tests.e2e import records
from tests.e2e.flows import ask, seed, types_of
from tests.e2e.gateways import Consortium, Gateway, free_base_port, wait_for
from tests.e2e.governance import (
    assert_valid_everywhere,
    endorse,
    medgate,
    propose,
    refusal,
    seen_by,
)
from tests.e2e.member_ops import start_member, stop_member
from tests.e2e.newcomer import hand_over, keygen, private_material

pytestmark = pytest.mark.e2e

FOUNDERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-b", "hospital"),
    MemberSpec("agency-c", "agency"),
]
NEWCOMER = "insurer-d"
MAX_REQUESTS = 2000


@dataclass
class Traffic:
    """hospital-b keeps querying hospital-a for treatment in a thread (bounded)."""

    requester: Gateway
    national_id: str
    statuses: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        token = self.requester.token()
        body = {
            "custodian": "hospital-a",
            "patient": {"system": records.NATIONAL_ID, "value": self.national_id},
            "purpose": "TREAT",
            "resource_types": ["Condition"],
        }
        with httpx.Client(base_url=self.requester.url, timeout=60) as http:
            for _ in range(MAX_REQUESTS):
                if self.stop.is_set():
                    return
                answer = http.post(
                    "/outbound/query", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                self.statuses.append(answer.status_code)

    def more(self, count: int) -> None:
        """Wait until ``count`` more requests were answered (bounded)."""
        target = len(self.statuses) + count
        wait_for(lambda: len(self.statuses) >= target or None, f"{count} more requests")


def _peer_reads_head(gateway: Gateway, org: str, key_path: Path) -> int:
    token = make_peer_assertion(
        load_private_key(key_path),
        org=org,
        audience=gateway.url,
        purpose="TREAT",
        now=int(time.time()),
    )
    answer = gateway.http.get("/ledger/head", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code


@pytest.fixture(scope="module")
def founders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    root: Path = tmp_path_factory.mktemp("onboarding")
    with Consortium(root, FOUNDERS) as consortium:
        yield consortium


def test_onboard_an_insurer_while_serving_then_remove_it(founders: Consortium) -> None:
    a, b, c = founders["hospital-a"], founders["hospital-b"], founders["agency-c"]
    root = a.folder.parent
    url = f"http://127.0.0.1:{free_base_port(1)}"
    card = keygen(root, NEWCOMER, "insurer", url)
    folder = card.parent
    check = hand_over(a.folder, folder)
    assert (
        Settings.load(folder / "medgate.toml").consortium
        == Settings.load(a.folder / "medgate.toml").consortium
    )
    # The check value both sides compare out of band: the same key, never in clear in a file.
    ours = load_patient_key((a.folder / "keys" / "patient.key").read_bytes())
    assert check == key_check(ours, Settings.load(a.folder / "medgate.toml").consortium)
    d = Gateway(NEWCOMER, "insurer", url, folder)

    # No member folder holds another member's private key.
    material = {gw.folder.name: private_material(gw.folder) for gw in [a, b, c, d]}
    for (one, mine), (other, theirs) in itertools.combinations(material.items(), 2):
        assert mine
        assert theirs
        assert not mine & theirs, f"{one} and {other} share private key material"

    try:
        patient = seed(a, claims=3)
        traffic = Traffic(b, patient.national_id)
        worker = threading.Thread(target=traffic.run, name="traffic")
        worker.start()
        try:
            start_member(d)  # the newcomer's gateway follows the ledger before it is a member
            traffic.more(2)
            done = medgate(a, "propose", "member.add", "--card", str(card), "--json")
            assert done.returncode == 0, done.stderr
            proposal_id = json.loads(done.stdout)["id"]
            p = seen_by(d, proposal_id)  # every member sees it, the newcomer too
            assert p["tx"]["body"]["member"]["org"] == NEWCOMER
            assert "not a member" in refusal(endorse(d, proposal_id), 403)
            traffic.more(2)
            done = medgate(c, "endorse", proposal_id, "--digest", p["digest"])
            assert done.returncode == 0, done.stderr
            height = assert_valid_everywhere([a, b, c, d], p["digest"])
            assert f"committed at height {height}" in done.stdout
            traffic.more(2)
        finally:
            traffic.stop.set()
            worker.join(timeout=60)
        assert traffic.statuses
        assert set(traffic.statuses) == {200}, traffic.statuses

        # The newcomer queries claims with the patient's consent.
        a.create(records.consent(patient.patient_id, NEWCOMER, "HPAYMT", ["Claim"]), a.auth())
        answer = ask(d, "hospital-a", patient.national_id, "HPAYMT", ["Claim"])
        assert answer.status_code == 200, answer.text
        assert types_of(answer.json()) == ["Claim"] * 3

        # Removal: every gateway refuses its peer assertions once the block is committed there.
        signing = folder / "keys" / "signing.key"
        assert {_peer_reads_head(gw, NEWCOMER, signing) for gw in (a, b, c)} == {200}
        made = propose(b, "member.remove", {"org": NEWCOMER})
        assert made.status_code == 200, made.text
        removal = made.json()
        done_remove = endorse(a, removal["id"], removal["digest"])
        assert done_remove.status_code == 200, done_remove.text
        assert_valid_everywhere([a, b, c], removal["digest"])
        for gw in (a, b, c):
            removed = gw.read_state(lambda s: member(s, NEWCOMER))
            assert removed is not None
            assert removed.status == "removed"
            assert _peer_reads_head(gw, NEWCOMER, signing) == 401
        refused = ask(d, "hospital-a", patient.national_id, "HPAYMT", ["Claim"])
        assert refused.status_code != 200
        # A removed member's gateway can no longer endorse.
        later = propose(a, "member.update", {"org": a.org, "endpoint": a.url}).json()
        seen_by(d, later["id"])
        assert "removed" in refusal(endorse(d, later["id"], later["digest"]), 403)
    finally:
        if d.process is not None and d.process.poll() is None:
            stop_member(d)
        d.http.close()
