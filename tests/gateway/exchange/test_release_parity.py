"""Query and deliver release the same bytes: the same decision over the same records, asked for by a
recipient (``/exchange/query``) or pushed to it (``/outbound/deliver``), opens to byte-identical
payloads. hospital-a is a real gateway on a loopback socket; each recipient's registered endpoint
is a real socket that keeps what is delivered, and the test opens both envelopes with the
recipient's own key."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from gateway.auth import jwt
from gateway.auth.peer import make_peer_assertion
from gateway.crypto.envelope import open_envelope
from gateway.crypto.keys import read_jwk, signing_kid
from gateway.demo.consortium import patient_key
from gateway.demo.scenes import permit_consent
from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.identity.files import load_private_key
from gateway.identity.pseudonym import patient_ref
from gateway.runtime import open_gateway
from gateway.settings import Settings
from tests.e2e import records
from tests.gateway.audit.harness import run_async
from tests.gateway.member import token_form
from tests.gateway.serve import serve
from tests.support.ports import free_ports

CUSTODIAN = "hospital-a"
MEMBERS = [
    MemberSpec(CUSTODIAN, "hospital"),
    MemberSpec("hospital-d", "hospital"),
    MemberSpec("insurer-b", "insurer"),
    MemberSpec("agency-c", "agency"),
]
MRN_SYSTEM = "urn:oid:hospital-a:mrn"
PSY = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}


@dataclass
class Inbox:
    """A recipient's registered endpoint: keeps every envelope delivered to it."""

    envelopes: list[bytes] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.envelopes.append(body)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"stored":[]}'})


@dataclass
class World:
    root: Path
    url: str
    settings: dict[str, Settings]
    inboxes: dict[str, Inbox]

    def client(self) -> dict[str, str]:
        key = load_private_key(self.root / CUSTODIAN / "clients" / "ehr.key")
        jwks = orjson.loads((self.root / CUSTODIAN / "clients" / "ehr.jwks.json").read_bytes())
        now = int(time.time())
        claims = {
            "iss": "ehr",
            "sub": "ehr",
            "aud": f"{self.settings[CUSTODIAN].public_url}/auth/token",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(12),
        }
        form = token_form(jwt.sign(claims, key, jwks["keys"][0]["kid"]), "system/*.*")
        answer = httpx.post(f"{self.url}/auth/token", data=form, timeout=30)
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Store ``resource`` at the custodian; the stored resource as it reads it back."""
        rtype = resource["resourceType"]
        headers = {**self.client(), "Content-Type": "application/fhir+json"}
        made = httpx.post(
            f"{self.url}/fhir/{rtype}", content=orjson.dumps(resource), headers=headers
        )
        assert made.status_code == 201, made.text
        back = httpx.get(f"{self.url}/fhir/{rtype}/{made.json()['id']}", headers=self.client())
        assert back.status_code == 200, back.text
        stored: dict[str, Any] = back.json()
        return stored

    def opened(self, org: str, envelope: bytes) -> bytes:
        sender = load_private_key(self.root / CUSTODIAN / "keys" / "signing.key").public_key()

        def keys(member: str, kid: str) -> Any:
            return sender if (member, kid) == (CUSTODIAN, signing_kid(sender)) else None

        jwk = read_jwk(self.root / org / "keys" / "encryption.jwk.json")
        return open_envelope(envelope, org, jwk, keys).payload

    def query(self, org: str, mrn: str, purpose: str, types: list[str]) -> bytes:
        token = make_peer_assertion(
            load_private_key(self.root / org / "keys" / "signing.key"),
            org=org,
            audience=self.settings[CUSTODIAN].public_url,
            purpose=purpose,
            now=int(time.time()),
        )
        ref = patient_ref(patient_key(self.root, CUSTODIAN), MRN_SYSTEM, mrn)
        body = {"patient_ref": ref, "resource_types": types, "purpose": purpose}
        answer = httpx.post(
            f"{self.url}/exchange/query",
            content=orjson.dumps(body),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return self.opened(org, answer.content)

    def deliver(self, org: str, mrn: str, purpose: str, resources: list[dict[str, Any]]) -> bytes:
        bundle = {"resourceType": "Bundle", "type": "collection"}
        bundle["entry"] = [{"resource": r} for r in resources]  # type: ignore[assignment]
        body = {
            "recipients": [org],
            "purpose": purpose,
            "patient": {"system": MRN_SYSTEM, "value": mrn},
            "bundle": bundle,
        }
        inbox = self.inboxes[org]
        before = len(inbox.envelopes)
        answer = httpx.post(
            f"{self.url}/outbound/deliver", json=body, headers=self.client(), timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["delivered"][0]["status"] == "delivered", answer.text
        assert len(inbox.envelopes) == before + 1
        return self.opened(org, inbox.envelopes[-1])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("parity")
    ports = [_free_port() for _ in MEMBERS]
    created = create_consortium(root, "parity", MEMBERS, ports=ports)
    settings = {m.org: Settings.load(m.config) for m in created.members}
    with ExitStack() as stack:
        inboxes = {}
        for org in settings:
            if org != CUSTODIAN:
                inboxes[org] = Inbox()
                port = urlsplit(settings[org].public_url).port
                assert port is not None
                stack.enter_context(serve(inboxes[org], port))
        app = run_async(open_gateway(settings[CUSTODIAN], cut_after=0.02))
        yield World(root, stack.enter_context(serve(app)), settings, inboxes)


def _free_port() -> int:
    return free_ports(1)[0]


def patient(mrn: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": MRN_SYSTEM, "value": mrn}],
        "name": [{"family": "Okafor", "given": ["Ngozi"]}],
        "birthDate": "1980-05-06",
    }


def observation(pid: str, value: int, labels: list[dict[str, str]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2026-02-03T10:00:00Z",
        "valueQuantity": {"value": value, "unit": "/min"},
    }
    if labels:
        out["meta"] = {"security": labels}
    return out


def psy_denied(w: World, mrn: str) -> list[dict[str, Any]]:
    """TREAT; the patient's consent withholds PSY-labelled data from every recipient."""
    person = w.create(patient(mrn))
    pid = person["id"]
    consent = permit_consent(pid, "hospital-d", "TREAT", [], start="2020-01-01", end="2099-01-01")
    consent["provision"] = {"type": "deny", "securityLabel": [PSY]}
    w.create(consent)
    return [person, w.create(observation(pid, 70)), w.create(observation(pid, 99, [PSY]))]


def duplicate_patient(w: World, mrn: str) -> list[dict[str, Any]]:
    """HPAYMT; two Patient records of one person, the claim references only the first."""
    first, second = w.create(patient(mrn)), w.create(patient(mrn))
    w.create(
        permit_consent(
            first["id"],
            "insurer-b",
            "HPAYMT",
            ["Claim", "Patient"],
            start="2020-01-01",
            end="2099-01-01",
        )
    )
    return [first, second, w.create(records.claim(first["id"], 4))]


def public_health(w: World, mrn: str) -> list[dict[str, Any]]:
    """PUBHLTH; de-identified for the agency."""
    person = w.create(patient(mrn))
    return [person, w.create(observation(person["id"], 64))]


def treatment(w: World, mrn: str) -> list[dict[str, Any]]:
    """TREAT, no consent, no data obligation: the stored bytes go as they are."""
    person = w.create(patient(mrn))
    return [person, w.create(observation(person["id"], 81))]


Case = tuple[str, str, Callable[[World, str], list[dict[str, Any]]]]
CASES: list[Case] = [
    ("hospital-d", "TREAT", psy_denied),
    ("insurer-b", "HPAYMT", duplicate_patient),
    ("agency-c", "PUBHLTH", public_health),
    ("hospital-d", "TREAT", treatment),
]


@pytest.mark.parametrize(("org", "purpose", "records"), CASES, ids=[c[2].__name__ for c in CASES])
def test_query_and_deliver_release_identical_bytes(
    world: World, org: str, purpose: str, records: Callable[[World, str], list[dict[str, Any]]]
) -> None:
    mrn = f"MRN-{secrets.token_hex(4)}"
    resources = records(world, mrn)
    types = sorted({r["resourceType"] for r in resources})
    asked = world.query(org, mrn, purpose, types)
    pushed = world.deliver(org, mrn, purpose, resources)
    for payload in (pushed, asked):  # deliver first: it is the route that used to leak
        check(records, resources, mrn, payload)
    assert pushed == asked


def check(
    records: Callable[[World, str], list[dict[str, Any]]],
    resources: list[dict[str, Any]],
    mrn: str,
    payload: bytes,
) -> None:
    released = orjson.loads(payload)["entry"]
    if records is psy_denied:  # the PSY-labelled Observation is withheld
        values = [e["resource"].get("valueQuantity", {}).get("value") for e in released]
        assert sorted(values, key=str) == [70, None]
    if records is duplicate_patient:  # the Patient no claim references stays home
        kept = {e["resource"]["id"] for e in released if e["resource"]["resourceType"] == "Patient"}
        assert kept == {resources[0]["id"]}
    if records is public_health:
        assert mrn.lower() not in payload.decode().lower()
        assert resources[0]["id"].lower() not in payload.decode().lower()
