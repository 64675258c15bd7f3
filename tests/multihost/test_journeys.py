"""The four journeys across hosts: each member on its own network-namespace host with its own
PostgreSQL, NATS server and gateway; the ledger ordered on the NATS cluster the hosts form."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.canonical import canonical
from ledger.checkpoint.cosigned import decode_cosigned, verify_cosigned
from ledger.checkpoint.electorate import electorate_of
from ledger.ids import ConsortiumId
from ledger.state import access_for_patient
from tests.e2e import records
from tests.e2e.flows import ask, patient_ref_at, seed, types_of
from tests.e2e.gateways import wait_for
from tests.e2e.test_insurer_claims import assert_denied
from tests.gateway.audit.test_patient_audit import b64url, rfc9162_root
from tests.multihost.consortium import MEDGATE, HostConsortium
from tests.multihost.member import HostGateway, MemberHost
from tests.multihost.nats_monitor import stream_replicas

pytestmark = [pytest.mark.multihost, pytest.mark.e2e, pytest.mark.nats, pytest.mark.postgres]


def recorded_everywhere(c: HostConsortium, national_id: str, tx: str) -> None:
    """The access record ``tx`` is in every member's own store, on every host."""
    ref = patient_ref_at(c["hospital-a"].gateway, national_id)
    for member in c.members.values():
        reader = member.gateway

        def found(reader: HostGateway = reader) -> bool:
            return any(
                r.tx_id == tx for r in reader.read_state(lambda s: access_for_patient(s, ref))
            )

        wait_for(found, f"{tx} at {member.org}")


def test_the_ledger_is_one_stream_replicated_on_three_hosts(four_hosts: HostConsortium) -> None:
    seed(four_hosts["hospital-a"].gateway, claims=0)
    replicas = stream_replicas(four_hosts.hosts(), four_hosts.consortium_id)
    addresses = {m.host.name for m in four_hosts.members.values()}
    assert len(set(replicas)) == 3  # three distinct servers, each on its own host
    assert set(replicas) <= addresses


def test_a_hospital_pulls_a_history_from_another_host(four_hosts: HostConsortium) -> None:
    a, b = four_hosts["hospital-a"].gateway, four_hosts["hospital-b"].gateway
    patient = seed(a, claims=1)
    types = ["Patient", "Observation", "Condition", "Claim"]
    answer = ask(b, "hospital-a", patient.national_id, "TREAT", types)
    assert answer.status_code == 200, answer.text
    assert types_of(answer.json()) == ["Condition", "Observation", "Observation", "Patient"]
    recorded_everywhere(four_hosts, patient.national_id, answer.headers["X-Medgate-Access-Tx"])


def test_an_insurer_gets_claims_only_with_consent(four_hosts: HostConsortium) -> None:
    hospital, insurer = four_hosts["hospital-a"].gateway, four_hosts["insurer"].gateway
    patient = seed(hospital, claims=2)
    denied = ask(insurer, "hospital-a", patient.national_id, "HPAYMT", ["Claim"])
    assert "deny:no-consent" in assert_denied(denied)["issue"][0]["diagnostics"]
    hospital.create(
        records.consent(patient.patient_id, "insurer", "HPAYMT", ["Claim"]), hospital.auth()
    )
    answer = ask(insurer, "hospital-a", patient.national_id, "HPAYMT", ["Claim", "Observation"])
    assert answer.status_code == 200, answer.text
    assert types_of(answer.json()) == ["Claim", "Claim"]
    for response in (denied, answer):
        tx = response.headers["X-Medgate-Access-Tx"]
        recorded_everywhere(four_hosts, patient.national_id, tx)


def test_an_agency_receives_de_identified_records(four_hosts: HostConsortium) -> None:
    hospital, agency = four_hosts["hospital-a"].gateway, four_hosts["agency"].gateway
    patient = seed(hospital, claims=0, family="Vandersloot")
    answer = ask(agency, "hospital-a", patient.national_id, "PUBHLTH", ["Patient", "Observation"])
    assert answer.status_code == 200, answer.text
    assert "deidentify" in answer.headers["X-Medgate-Obligations"].split(",")
    direct = [patient.national_id, "Vandersloot", "Josephine", "Quarry Lane", "1961-04-17"]
    assert [d for d in direct if d in answer.text] == []
    assert types_of(answer.json()) == ["Observation", "Observation", "Patient"]


def _patient_token(hospital: MemberHost, national_id: str) -> str:
    """A patient token minted by the hospital's operator on the hospital's host (`medgate
    patient-token` with the kit's config: it checks the patient is held in the host's store)."""
    argv = [MEDGATE, "patient-token", "--system", records.NATIONAL_ID, "--config"]
    done = hospital.host.exec([*argv, str(hospital.config), national_id])
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _audit_with_every_entry(hospital: HostGateway, token: str, count: int) -> dict[str, Any]:
    def complete() -> dict[str, Any] | None:
        reply = hospital.http.get("/patient/audit", headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 200, reply.text
        log: dict[str, Any] = reply.json()
        done = len(log["entries"]) == count and log["pending"] == 0
        return log if done and log["checkpoint"] is not None else None

    return wait_for(complete, "every access in a cosigned checkpoint", 60)


def test_a_patient_audits_every_access_with_proofs_checked_on_another_host(
    four_hosts: HostConsortium,
) -> None:
    hospital = four_hosts["hospital-a"].gateway
    patient = seed(hospital, claims=1)
    asked = [
        ask(
            four_hosts["hospital-b"].gateway,
            "hospital-a",
            patient.national_id,
            "TREAT",
            ["Observation"],
        ),
        ask(four_hosts["insurer"].gateway, "hospital-a", patient.national_id, "HPAYMT", ["Claim"]),
    ]
    assert [a.status_code for a in asked] == [200, 403]
    token = _patient_token(four_hosts["hospital-a"], patient.national_id)
    log = _audit_with_every_entry(hospital, token, 2)
    assert {e["tx_id"] for e in log["entries"]} == {a.headers["X-Medgate-Access-Tx"] for a in asked}
    # The agency checks the proofs against its own store on its own host: the cosigned checkpoint
    # verifies under the electorate in its state, and each proof leads to the checkpoint's root.
    agency = four_hosts["agency"].gateway
    cosigned = decode_cosigned(canonical(log["checkpoint"]))
    consortium = ConsortiumId(cosigned.cp.consortium)
    cp = agency.read_state(lambda s: verify_cosigned(cosigned, electorate_of(s), consortium))
    own = agency.read_state(lambda s: s.block(cp.height))
    assert own is not None
    assert own.tree_root == cp.tree_root
    for entry in log["entries"]:
        proof = [bytes.fromhex(h) for h in entry["proof"]["hashes"]]
        root = rfc9162_root(b64url(entry["leaf"]), entry["index"], cp.tree_size, proof)
        assert root.hex() == cp.tree_root
