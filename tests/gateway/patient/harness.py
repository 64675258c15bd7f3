"""A running consortium for the patient portal tests: hospital-a and insurer-b gateways on their
registered loopback ports (so the insurer's queries reach the hospital), the patient MRN-0042 at
the hospital with claims and an e-mail address, and the helpers the API and browser tests share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from gateway.demo.consortium import patient_key
from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.identity.pseudonym import patient_ref
from gateway.runtime import open_gateway
from gateway.settings import NotificationSettings, Settings
from tests.e2e import records
from tests.e2e.gateways import free_base_port
from tests.gateway.audit.harness import (
    MRN,
    MRN_SYSTEM,
    RUNNING,
    Consortium,
    run_async,
)
from tests.gateway.serve import serve

HOSPITAL, INSURER = "hospital-a", "insurer-b"
EMAIL = "josephine.quarrington@example.org"
FHIR = {"Content-Type": "application/fhir+json"}
MEMBERS = [
    MemberSpec("hospital-a", "hospital", name="St Anne's Hospital"),
    MemberSpec("insurer-b", "insurer", name="Bluewater Health Insurance"),
    MemberSpec("agency-c", "agency", name="Public Health Agency"),
]
NAMES = {m.org: str(m.name) for m in MEMBERS}


@contextmanager
def portal_consortium(
    root: Path, notifications: NotificationSettings | None = None
) -> Iterator[Consortium]:
    """The two gateways (the hospital's with ``notifications``), the patient seeded."""
    base = free_base_port(len(MEMBERS))
    created = create_consortium(root, "portal test consortium", MEMBERS, base_port=base)
    settings = {m.org: Settings.load(m.config) for m in created.members}
    if notifications is not None:
        settings[HOSPITAL] = settings[HOSPITAL].model_copy(update={"notifications": notifications})
    ref = patient_ref(patient_key(root, HOSPITAL), MRN_SYSTEM, MRN)
    with ExitStack() as stack:
        urls = {}
        for offset, org in enumerate(m.org for m in MEMBERS):
            if org in RUNNING:
                app = run_async(open_gateway(settings[org], cut_after=0.02))
                urls[org] = stack.enter_context(serve(app, base + offset))
        c = Consortium(root, urls, settings, ref)
        seed(c)
        yield c


def create(c: Consortium, resource: dict[str, Any]) -> str:
    auth = {"Authorization": f"Bearer {c.client_token(HOSPITAL)}"}
    url = f"{c.urls[HOSPITAL]}/fhir/{resource['resourceType']}"
    answer = httpx.post(url, json=resource, headers=auth | FHIR, timeout=30)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def seed(c: Consortium) -> str:
    """The patient (MRN-0042, with an e-mail address) and two claims at the hospital."""
    patient = records.patient("NID-PORTAL", "Quarrington", "Josephine")
    patient["identifier"] = [{"system": MRN_SYSTEM, "value": MRN}]
    patient["telecom"] = [{"system": "email", "value": EMAIL}]
    pid = create(c, patient)
    for n in range(2):
        create(c, records.claim(pid, n))
    return pid


def insurer_query(c: Consortium) -> httpx.Response:
    """The insurer's claims query about the patient, through its own gateway."""
    ask = {
        "custodian": HOSPITAL,
        "patient": {"system": MRN_SYSTEM, "value": MRN},
        "purpose": "HPAYMT",
        "resource_types": ["Claim"],
    }
    auth = {"Authorization": f"Bearer {c.client_token(INSURER)}"}
    return httpx.post(f"{c.urls[INSURER]}/outbound/query", json=ask, headers=auth, timeout=60)


def break_glass(c: Consortium) -> str:
    """A real emergency query: hospital-a's EHR asks, through its own gateway and with the glass
    broken, for the patient's Observations held by insurer-b (seeded there first; the policy lets
    a hospital break glass for ETREAT and obliges notify-patient). The custodian records the
    access on the ledger; its tx id (X-Medgate-Access-Tx)."""
    auth = {"Authorization": f"Bearer {c.client_token(INSURER)}"}
    patient = {"resourceType": "Patient", "identifier": [{"system": MRN_SYSTEM, "value": MRN}]}
    url = c.urls[INSURER]
    made = httpx.post(f"{url}/fhir/Patient", json=patient, headers=auth | FHIR, timeout=30)
    assert made.status_code == 201, made.text
    observation = records.observation(made.json()["id"], 71)
    made = httpx.post(f"{url}/fhir/Observation", json=observation, headers=auth | FHIR, timeout=30)
    assert made.status_code == 201, made.text
    ask = {
        "custodian": INSURER,
        "patient": {"system": MRN_SYSTEM, "value": MRN},
        "purpose": "ETREAT",
        "resource_types": ["Observation"],
        "break_glass": True,
    }
    hospital = {"Authorization": f"Bearer {c.client_token(HOSPITAL)}"}
    answer = httpx.post(
        f"{c.urls[HOSPITAL]}/outbound/query", json=ask, headers=hospital, timeout=60
    )
    assert answer.status_code == 200, answer.text
    assert [e["resource"]["resourceType"] for e in answer.json()["entry"]] == ["Observation"]
    return str(answer.headers["X-Medgate-Access-Tx"])


def patient_headers(c: Consortium, *, csrf: bool = True) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {c.patient_token()}"}
    return headers | ({"X-Medgate-CSRF": "1"} if csrf else {})
