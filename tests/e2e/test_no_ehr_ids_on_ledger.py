"""Nothing an EHR chose reaches the ledger as is: a patient, Consents and an opt-out whose ids,
identifiers and display strings embed the MRN, the name and the phone go through every flow
(consent, query, de-identified query, delivery, opt-out, revocation, denial, patient audit,
replay); then every entry of every member's ledger and every line each gateway logged is scanned
case-insensitively for each of them: zero hits. Replay and the patient audit still work."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from gateway.settings import Settings
from ledger.entries import decode_entry
from tests.e2e import records
from tests.e2e.flows import ask, ledger_consent_id
from tests.e2e.gateways import Consortium, Gateway, wait_for
from tests.e2e.test_replay_e2e import replay
from tests.gateway.patientauth.flow import signed_in

pytestmark = pytest.mark.e2e
FHIR = {"Content-Type": "application/fhir+json"}


def put(gateway: Gateway, resource: dict[str, Any], headers: dict[str, str]) -> None:
    path = f"/fhir/{resource['resourceType']}/{resource['id']}"
    answer = gateway.http.put(path, json=resource, headers=headers | FHIR)
    assert answer.status_code in (200, 201), answer.text


def ledger_texts(gateway: Gateway) -> list[str]:
    """Every committed entry of ``gateway``'s own ledger, decoded, as text."""

    def read(store: Any) -> list[str]:
        head = store.head()
        entries = store.entries(0, head.tree_size)
        return [str(decode_entry(e.leaf).tx) + e.leaf.decode(errors="replace") for e in entries]

    return list(gateway.read_state(read))


def tree_size(gateway: Gateway) -> int:
    return int(gateway.read_state(lambda s: s.head().tree_size))


def test_no_ehr_chosen_string_reaches_any_ledger_or_log(solo: Consortium) -> None:
    hospital, other, insurer, agency = (
        solo["hospital-a"],
        solo["hospital-b"],
        solo["insurer"],
        solo["agency"],
    )
    tag = secrets.token_hex(3)
    mrn, family, phone = f"MRN{tag}77", f"Quillfeather{tag}", "+44 20 7946 3318"
    secrets_ = [mrn, family, phone, phone.replace(" ", "")]
    headers = hospital.auth()
    pid = f"pat-{mrn}-{family}"
    patient = {**records.patient(mrn, family, "Winifred"), "id": pid}
    patient["telecom"] = [{"system": "phone", "value": phone}]
    put(hospital, patient, headers)
    hospital.create(records.claim(pid, 0), headers)
    hospital.create(records.observation(pid, 72), headers)
    display = f"{family} {mrn} {phone}"
    consent_id = f"consent-{mrn}-{family}-insurer"
    consent = {
        **records.consent(pid, "insurer", "HPAYMT", ["Claim"]),
        "id": consent_id,
        "identifier": [{"system": "urn:ehr:consent", "value": f"{mrn}/{phone}"}],
    }
    consent["patient"]["display"] = display
    consent["provision"]["actor"][0]["reference"]["display"] = display
    put(hospital, consent, headers)
    opt_out = {
        **records.consent(pid, "hospital-b", "TREAT", ["Claim"]),
        "id": f"optout-{mrn}-{family}",
    }
    opt_out["provision"]["type"] = "deny"
    put(hospital, opt_out, headers)

    # A requester names a consent by its ledger id only, never by a string its EHR chose.
    named = ask(insurer, "hospital-a", mrn, "HPAYMT", ["Claim"], consent_ref=consent_id)
    assert named.status_code == 400, named.text
    on_ledger = ledger_consent_id(hospital, consent_id)
    permitted = ask(insurer, "hospital-a", mrn, "HPAYMT", ["Claim"], consent_ref=on_ledger)
    assert permitted.status_code == 200, permitted.text
    treat = ask(other, "hospital-a", mrn, "TREAT", ["Observation", "Claim"])
    assert treat.status_code == 200, treat.text
    public = ask(agency, "hospital-a", mrn, "PUBHLTH", ["Observation"])
    assert public.status_code == 200, public.text
    delivered = hospital.http.post(
        "/outbound/deliver",
        json={
            "recipients": ["hospital-b"],
            "purpose": "TREAT",
            "patient": {"system": records.NATIONAL_ID, "value": mrn},
            "bundle": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": {**records.observation(pid, 61), "id": f"obs-{mrn}"}}],
            },
        },
        headers=hospital.auth(),
    )
    assert delivered.status_code == 200, delivered.text
    put(hospital, {**consent, "status": "inactive"}, headers)
    denied = ask(insurer, "hospital-a", mrn, "HPAYMT", ["Claim"])
    assert denied.status_code == 403, denied.text

    # The patient audit and replay still work over the opaque ids.
    settings = Settings.load(hospital.folder / "medgate.toml")
    token = signed_in(hospital.http, settings, records.NATIONAL_ID, mrn)["access_token"]
    txs = [a.headers["X-Medgate-Access-Tx"] for a in (permitted, treat, public, denied)]

    def audited() -> list[dict[str, Any]] | None:
        log = hospital.http.get("/patient/audit", headers={"Authorization": f"Bearer {token}"})
        entries = log.json()["entries"]
        return entries if {tx for tx in txs} <= {e["tx_id"] for e in entries} else None

    entries = wait_for(audited, "the patient's audit")
    basis = next(e for e in entries if e["tx_id"] == txs[0])["basis"]
    assert basis == [on_ledger]
    for tx in (txs[0], txs[1], txs[3]):
        code, report = replay(hospital, tx)
        assert (code, report["status"]) == (0, "confirmed"), report

    size = tree_size(hospital)
    for gateway in solo.gateways.values():
        wait_for(lambda g=gateway: tree_size(g) >= size, f"{gateway.org} caught up")
        texts = ledger_texts(gateway)
        logged = (gateway.folder / "serve.log").read_text(errors="replace").splitlines()
        hits = [
            (s, line[:200])
            for line in [*texts, *logged]
            for s in secrets_
            if s.lower() in line.lower()
        ]
        assert hits == [], f"{gateway.org}: {hits[:5]}"
