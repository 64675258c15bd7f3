"""A running consortium for the audit tests: hospital-a and insurer-b gateways (open_gateway, real
ledger nodes and checkpointers) on loopback sockets, agency-c's key signing entries offline.

Entries are signed with the members' own keys and submitted to the shared solo ordering log, the way
any member's node submits them; every running node validates and commits them, and the two running
checkpointers cosign the blocks (MAJORITY of three needs two).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from gateway.auth import jwt
from gateway.demo.consortium import patient_key
from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.identity.files import load_private_key
from gateway.identity.pseudonym import patient_ref
from gateway.runtime import open_gateway
from gateway.settings import Settings
from ledger.entries import make_tx, nonce_from_bytes, sign_entry, tx_id_of
from ledger.ids import OrgId
from ledger.ordering.solo import SoloOrdering
from ledger.signing import kid_of
from tests.e2e.gateways import free_base_port
from tests.gateway.member import token_form
from tests.gateway.patientauth.flow import signed_in
from tests.gateway.serve import serve

T = TypeVar("T")

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("insurer-b", "insurer"),
    MemberSpec("agency-c", "agency"),
]
RUNNING = ("hospital-a", "insurer-b")
MRN_SYSTEM = "urn:oid:hospital-a:mrn"
MRN = "MRN-0042"
POLLS = 1500  # x 20 ms: bounded waits for commits and finality


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh loop in a worker thread: callers may already be
    inside a running loop (Playwright's sync API runs one on the test's thread)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class Consortium:
    root: Path
    urls: dict[str, str]
    settings: dict[str, Settings]
    ref: str
    tx_ids: list[str] = field(default_factory=list)

    def client_token(self, org: str, scope: str = "system/*.read system/*.write") -> str:
        settings = self.settings[org]
        key = load_private_key(self.root / org / "clients" / "ehr.key")
        jwks = json.loads((self.root / org / "clients" / "ehr.jwks.json").read_bytes())
        now = int(time.time())
        claims = {
            "iss": "ehr",
            "sub": "ehr",
            "aud": f"{settings.public_url}/auth/token",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(12),
        }
        assertion = jwt.sign(claims, key, jwks["keys"][0]["kid"])
        response = httpx.post(
            f"{self.urls[org]}/auth/token", data=token_form(assertion, scope), timeout=30
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def patient_token(self, value: str = MRN) -> str:
        """A patient token the way a patient gets one: an invitation code from the hospital,
        then the portal's sign-in (authorization code + PKCE)."""
        with httpx.Client(base_url=self.urls["hospital-a"], timeout=30) as http:
            session = signed_in(http, self.settings["hospital-a"], MRN_SYSTEM, value)
        token: str = session["access_token"]
        return token

    def hold_patient(self, value: str) -> None:
        """Store a Patient with this MRN at hospital-a (its EHR's write)."""
        body = {"resourceType": "Patient", "identifier": [{"system": MRN_SYSTEM, "value": value}]}
        response = httpx.post(
            f"{self.urls['hospital-a']}/fhir/Patient",
            json=body,
            headers={"Authorization": f"Bearer {self.client_token('hospital-a')}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text

    def submit(self, org: str, type_: str, body: dict[str, Any]) -> str:
        """Sign ``body`` as ``org`` and order it; returns the tx_id."""
        key = load_private_key(self.root / org / "keys" / "signing.key")
        nonce = nonce_from_bytes(secrets.token_bytes(16))
        tx = make_tx(
            type_, OrgId(org), kid_of(key.public_key()), int(time.time() * 1000), nonce, body
        )
        leaf, tx_id = sign_entry(tx, key), tx_id_of(tx)

        async def order() -> None:
            log = SoloOrdering(self.root / "consortium" / "ordering.db")
            try:
                await log.submit(leaf, tx_id)
            finally:
                await log.close()

        run_async(order())
        self.tx_ids.append(tx_id)
        return tx_id

    def wait_final(self, org: str, tree_size: int) -> dict[str, Any]:
        """The final checkpoint of ``org`` once it covers ``tree_size`` entries (bounded wait)."""
        headers = {"Authorization": f"Bearer {self.client_token(org)}"}
        body: dict[str, Any] = {}
        for _ in range(POLLS):
            response = httpx.get(f"{self.urls[org]}/ledger/checkpoint", headers=headers, timeout=30)
            if response.status_code == 200:
                body = response.json()
                if body["cp"]["tree_size"] >= tree_size:
                    return body
            time.sleep(0.02)
        raise AssertionError(f"no final checkpoint covering {tree_size} entries: {body}")


def access_body(requester: str, role: str, custodian: str, ref: str, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "requester": requester,
        "requester_role": role,
        "custodian": custodian,
        "patient_ref": ref,
        "purpose": "HPAYMT",
        "resource_types": ["Claim"],
        "decision": "permit",
        "basis": [],
        "policy_version": "1",
        "obligations": ["audit"],
        "break_glass": False,
        "decision_digest": hashlib.sha256(secrets.token_bytes(8)).hexdigest(),
    }
    return body | kw


@contextmanager
def running_consortium(root: Path) -> Iterator[Consortium]:
    # Served at their registered URLs (public_url): a browser signing in is sent back there.
    base = free_base_port(len(MEMBERS))
    created = create_consortium(root, "audit test consortium", MEMBERS, base_port=base)
    configs = {m.org: m.config for m in created.members}
    settings = {org: Settings.load(configs[org]) for org in configs}
    ref = patient_ref(patient_key(root, "hospital-a"), MRN_SYSTEM, MRN)
    with ExitStack() as stack:
        urls = {}
        for offset, org in enumerate(m.org for m in MEMBERS):
            if org in RUNNING:
                app = run_async(open_gateway(settings[org], cut_after=0.02))
                urls[org] = stack.enter_context(serve(app, base + offset))
        consortium = Consortium(root, urls, settings, ref)
        consortium.hold_patient(MRN)
        yield consortium


def populate(c: Consortium) -> None:
    """Three accesses to the patient by three custodians (a release, a break-glass release with
    patient notification, a denial), plus one access to another patient."""
    consent = {
        "consent_id": "consent-0042",
        "patient_ref": c.ref,
        "grantee": {"org": "insurer-b"},
        "purposes": ["HPAYMT"],
        "resource_types": ["Claim"],
        "period": {},
        "consent_digest": hashlib.sha256(b"consent-0042").hexdigest(),
    }
    c.submit("hospital-a", "consent.grant", consent)
    c.submit(
        "hospital-a",
        "access.record",
        access_body("insurer-b", "insurer", "hospital-a", c.ref, basis=["consent-0042"]),
    )
    c.submit(
        "insurer-b",
        "access.record",
        access_body(
            "hospital-a",
            "hospital",
            "insurer-b",
            c.ref,
            purpose="ETREAT",
            resource_types=["Coverage"],
            obligations=["audit", "notify-patient"],
            break_glass=True,
        ),
    )
    c.submit(
        "agency-c",
        "access.record",
        access_body("insurer-b", "insurer", "agency-c", c.ref, decision="deny", obligations=[]),
    )
    other = patient_ref(patient_key(c.root, "hospital-a"), MRN_SYSTEM, "MRN-9999")
    c.submit(
        "hospital-a", "access.record", access_body("insurer-b", "insurer", "hospital-a", other)
    )
