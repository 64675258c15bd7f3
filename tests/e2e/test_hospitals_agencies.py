"""Hospitals (TREAT, ETREAT break-glass), agencies (PUBHLTH de-identified) and delivery (push),
each gateway in its own process on real sockets."""

from __future__ import annotations

import time

import pytest

from ledger.state import access_for_patient
from tests.e2e import records
from tests.e2e.flows import ask, patient_ref_at, seed, types_of
from tests.e2e.gateways import Consortium, wait_for
from tests.e2e.test_insurer_claims import assert_denied, recorded

pytestmark = pytest.mark.e2e
HOUR_MS = 3_600_000


def test_treatment_exchange_between_hospitals(solo: Consortium) -> None:
    patient = seed(solo["hospital-a"], claims=1)
    types = ["Patient", "Observation", "Condition", "Claim"]
    answer = ask(solo["hospital-b"], "hospital-a", patient.national_id, "TREAT", types)
    assert answer.status_code == 200, answer.text
    # Claims are not clinical: the TREAT rule never releases them, whatever is asked.
    assert types_of(answer.json()) == ["Condition", "Observation", "Observation", "Patient"]
    assert answer.headers["X-Medgate-Obligations"] == "audit"


def test_break_glass_by_a_hospital_is_flagged_time_boxed_and_notified(solo: Consortium) -> None:
    hospital = solo["hospital-a"]
    patient = seed(hospital, claims=0)
    answer = ask(
        solo["hospital-b"],
        "hospital-a",
        patient.national_id,
        "ETREAT",
        ["Observation"],
        break_glass=True,
    )
    assert answer.status_code == 200, answer.text
    assert types_of(answer.json()) == ["Observation", "Observation"]
    obligations = answer.headers["X-Medgate-Obligations"].split(",")
    assert "notify-patient" in obligations
    until = [o for o in obligations if o.startswith("break-glass-until:")]
    assert len(until) == 1
    # The patient's log (ledger state) flags the break-glass access and carries the notification.
    ref = patient_ref_at(hospital, patient.national_id)
    record = recorded(solo["insurer"], ref, answer.headers["X-Medgate-Access-Tx"])
    assert record.break_glass is True
    assert "notify-patient" in record.obligations
    assert record.purpose == "ETREAT"


def test_break_glass_window_closes(solo: Consortium) -> None:
    patient = seed(solo["hospital-a"], claims=0)
    started = int(time.time() * 1000) - 5 * HOUR_MS  # the policy allows 240 minutes
    outcome = assert_denied(
        ask(
            solo["hospital-b"],
            "hospital-a",
            patient.national_id,
            "ETREAT",
            ["Observation"],
            break_glass=True,
            break_glass_started=started,
        )
    )
    assert "deny:break-glass-expired" in outcome["issue"][0]["diagnostics"]


def test_break_glass_by_an_insurer_is_refused(solo: Consortium) -> None:
    patient = seed(solo["hospital-a"], claims=1)
    answer = ask(
        solo["insurer"], "hospital-a", patient.national_id, "ETREAT", ["Claim"], break_glass=True
    )
    assert_denied(answer)
    ref = patient_ref_at(solo["hospital-a"], patient.national_id)
    record = recorded(solo["hospital-b"], ref, answer.headers["X-Medgate-Access-Tx"])
    assert (record.decision, record.break_glass) == ("deny", True)


def test_agency_receives_de_identified_records(solo: Consortium) -> None:
    hospital = solo["hospital-a"]
    patient = seed(hospital, claims=1, family="Vandersloot")
    types = ["Patient", "Observation", "Condition"]
    answer = ask(solo["agency"], "hospital-a", patient.national_id, "PUBHLTH", types)
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    assert types_of(bundle) == ["Condition", "Observation", "Observation", "Patient"]
    assert "deidentify" in answer.headers["X-Medgate-Obligations"].split(",")
    text = answer.text
    direct = [
        patient.national_id,
        "Vandersloot",
        "Josephine",
        "7946 0991",
        "Quarry Lane",
        "DN4 7QX",
        "Dunmore",
        "1961-04-17",
        "lives with her sister",
        patient.patient_id,
    ]
    assert [d for d in direct if d in text] == []
    person = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    assert person.get("birthDate") == "1961"
    # Still useful for public health: codes and values stay.
    assert "38341003" in text
    assert '"value":88' in text.replace(" ", "")


def test_delivery_reaches_the_permitted_recipients_only(solo: Consortium) -> None:
    sender, receiver = solo["hospital-a"], solo["hospital-b"]
    national_id = f"NID-deliver-{time.time_ns()}"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {**records.patient(national_id, "Okonkwo", "Ada"), "id": "p1"}},
            {"resource": {**records.observation("p1", 64), "id": "o1"}},
        ],
    }
    body = {
        "recipients": ["hospital-b", "insurer"],
        "purpose": "TREAT",
        "patient": {"system": records.NATIONAL_ID, "value": national_id},
        "bundle": bundle,
    }
    answer = sender.http.post("/outbound/deliver", json=body, headers=sender.auth())
    assert answer.status_code == 200, answer.text
    statuses = {d["org"]: d["status"] for d in answer.json()["delivered"]}
    assert statuses == {"hospital-b": "delivered", "insurer": "denied"}
    assert all(len(d["tx_id"]) == 64 for d in answer.json()["delivered"])
    # hospital-b stored it, linked: it now answers for the patient as a custodian.
    back = ask(sender, "hospital-b", national_id, "TREAT", ["Patient", "Observation"])
    assert back.status_code == 200, back.text
    observation = next(
        e["resource"]
        for e in back.json()["entry"]
        if e["resource"]["resourceType"] == "Observation"
    )
    assert observation["valueQuantity"]["value"] == 64
    ref = patient_ref_at(sender, national_id)
    # Both decisions of the push (one release, one denial) and the query back are on the ledger.
    wait_for(
        lambda: len(receiver.read_state(lambda s: access_for_patient(s, ref))) == 3,
        "delivery records",
    )
