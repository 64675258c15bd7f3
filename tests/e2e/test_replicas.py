"""Two replicas of one member agree: hospital-a runs two `medgate serve` processes over one real
PostgreSQL (its FHIR store, evidence archive and patient index; each replica is a full ledger node
with its own ledger store), A behind its public URL and B beside it. Whatever is written through A
(a Consent, its revocation, an opt-out, a new record) is enforced by B on B's very next request,
after B has served and cached the state before it; a member removed by a committed block is
refused by both."""

from __future__ import annotations

import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.auth.peer import make_peer_assertion
from gateway.crypto.envelope import open_envelope
from gateway.crypto.keys import read_jwk
from gateway.identity.consortium import MemberSpec
from gateway.identity.files import load_private_key
from gateway.identity.pseudonym import load_patient_key, patient_ref
from ledger.entries import make_tx, nonce_from_bytes, sign_entry, tx_id_of
from ledger.ids import OrgId
from ledger.ordering.solo import SoloOrdering
from ledger.signing import kid_of
from ledger.state import member
from ledger.storage.sql import SqlStore
from tests.e2e import records
from tests.e2e.gateways import MEDGATE, Consortium, Gateway, free_base_port, wait_for
from tests.gateway.audit.harness import run_async
from tests.support.postgres import fresh_database

pytestmark = pytest.mark.e2e
MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-b", "hospital"),
    MemberSpec("insurer", "insurer"),
    MemberSpec("agency", "agency"),
]
FHIR = {"Content-Type": "application/fhir+json"}


def on_postgres(config: Path, fhir_url: str, ledger_url: str) -> None:
    text = config.read_text(encoding="utf-8")
    text = text.replace('url = "sqlite:///data/gateway.db"', f'url = "{fhir_url}"')
    text = text.replace('ledger_url = "sqlite:///data/ledger.db"', f'ledger_url = "{ledger_url}"')
    config.write_text(text, encoding="utf-8")


def replica_config(config: Path, port: int, ledger_url: str) -> Path:
    """A second config of the same member (same keys, FHIR store and public URL) on ``port``,
    with its own ledger store ``ledger_url``."""
    text = re.sub(r"(?m)^port = \d+$", f"port = {port}", config.read_text(encoding="utf-8"))
    text = re.sub(r'(?m)^ledger_url = ".*"$', f'ledger_url = "{ledger_url}"', text)
    second = config.with_name("medgate-b.toml")
    second.write_text(text, encoding="utf-8")
    return second


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str
) -> Iterator[tuple[Consortium, Gateway, list[str]]]:
    root = tmp_path_factory.mktemp("replicas")
    with fresh_database(pg_server) as fhir_url, fresh_database(pg_server) as ledger_url:
        consortium = Consortium(root, MEMBERS)
        a = consortium["hospital-a"]
        on_postgres(a.folder / "medgate.toml", fhir_url, ledger_url)
        port = free_base_port(1)
        own_ledger = f"sqlite:///{a.folder / 'data' / 'ledger-b.db'}"
        config = replica_config(a.folder / "medgate.toml", port, own_ledger)
        with consortium, (a.folder / "serve-b.log").open("wb") as log:
            process = subprocess.Popen(
                [MEDGATE, "serve", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
            b = Gateway("hospital-a", "hospital", f"http://127.0.0.1:{port}", a.folder, process)
            try:
                wait_for(lambda: _ready(b), "replica B ready", 60)
                yield consortium, b, [ledger_url, own_ledger]
            finally:
                process.terminate()
                process.wait(timeout=15)
                b.http.close()


def _ready(gateway: Gateway) -> bool:
    try:
        return gateway.http.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False


def ask_at(
    replica: Gateway, public_url: str, requester: Gateway, ref: str, purpose: str, types: list[str]
) -> httpx.Response:
    """``requester``'s query sent straight to ``replica`` (a peer assertion for the member)."""
    key = load_private_key(requester.folder / "keys" / "signing.key")
    assertion = make_peer_assertion(
        key, org=requester.org, audience=public_url, purpose=purpose, now=int(time.time())
    )
    body = {"patient_ref": ref, "resource_types": types, "purpose": purpose}
    return replica.http.post(
        "/exchange/query", json=body, headers={"Authorization": f"Bearer {assertion}"}
    )


def released_types(answer: httpx.Response, requester: Gateway, custodian: Gateway) -> list[str]:
    assert answer.status_code == 200, answer.text
    sender = load_private_key(custodian.folder / "keys" / "signing.key").public_key()
    jwk = read_jwk(requester.folder / "keys" / "encryption.jwk.json")
    opened = open_envelope(answer.content, requester.org, jwk, lambda _org, _kid: sender)
    bundle = orjson.loads(opened.payload)
    return sorted(e["resource"]["resourceType"] for e in bundle.get("entry", []))


def remove_member(root: Path, org: str, signer: str, endorsers: list[str]) -> None:
    keys = {o: load_private_key(root / o / "keys" / "signing.key") for o in [signer, *endorsers]}
    tx = make_tx(
        "member.remove",
        OrgId(signer),
        kid_of(keys[signer].public_key()),
        int(time.time() * 1000),
        nonce_from_bytes(secrets.token_bytes(16)),
        {"org": org},
    )
    leaf = sign_entry(tx, keys[signer], {OrgId(o): keys[o] for o in endorsers})

    async def order() -> None:
        log = SoloOrdering(root / "consortium" / "ordering.db")
        try:
            await log.submit(leaf, tx_id_of(tx))
        finally:
            await log.close()

    run_async(order())


def _active(store: SqlStore, org: str) -> bool:
    found = member(store, org)
    return found is not None and found.is_active


def test_what_one_replica_writes_the_other_enforces_on_its_next_request(
    replicas: tuple[Consortium, Gateway, list[str]],
) -> None:
    consortium, b, ledgers = replicas
    a, other, insurer = consortium["hospital-a"], consortium["hospital-b"], consortium["insurer"]
    headers = a.auth()
    national_id = f"NID-{secrets.token_hex(6)}"
    pid = a.create(records.patient(national_id, "Replica", "Rosalind"), headers)
    a.create(records.claim(pid, 0), headers)
    a.create(records.condition(pid), headers)
    key = load_patient_key((a.folder / "keys" / "patient.key").read_bytes())
    ref = patient_ref(key, records.NATIONAL_ID, national_id)

    def at_b(who: Gateway, purpose: str, types: list[str]) -> httpx.Response:
        return ask_at(b, a.url, who, ref, purpose, types)

    # B serves (and caches) the state as it is: a Patient A stored, no consent for the insurer.
    treat = ["Condition", "Observation"]
    assert released_types(at_b(other, "TREAT", treat), other, a) == ["Condition"]
    assert at_b(insurer, "HPAYMT", ["Claim"]).status_code == 403
    # A new record through A: in B's next release.
    a.create(records.observation(pid, 70), headers)
    assert released_types(at_b(other, "TREAT", treat), other, a) == ["Condition", "Observation"]
    # An opt-out through A (the ledger cannot carry it): B withholds from its next request on.
    opt_out = records.consent(pid, "hospital-b", "TREAT", ["Observation"])
    opt_out["provision"]["type"] = "deny"
    a.create(opt_out, headers)
    assert released_types(at_b(other, "TREAT", treat), other, a) == ["Condition"]
    # A consent stored through A: B permits on its next request; revoked through A: B denies.
    consent = records.consent(pid, "insurer", "HPAYMT", ["Claim"])
    consent_id = a.create(consent, headers)
    assert released_types(at_b(insurer, "HPAYMT", ["Claim"]), insurer, a) == ["Claim"]
    assert released_types(at_b(insurer, "HPAYMT", ["Claim"]), insurer, a) == ["Claim"]
    revoked = {**consent, "id": consent_id, "status": "inactive"}
    answer = a.http.put(f"/fhir/Consent/{consent_id}", json=revoked, headers=headers | FHIR)
    assert answer.status_code == 200, answer.text
    denied = at_b(insurer, "HPAYMT", ["Claim"])
    assert denied.status_code == 403, (denied.text, (a.folder / "serve-b.log").read_text()[-3000:])

    # A member removed by a committed block is refused by both replicas.
    assert at_b(other, "TREAT", treat).status_code == 200
    assert ask_at(a, a.url, other, ref, "TREAT", treat).status_code == 200
    remove_member(a.folder.parent, "hospital-b", "hospital-a", ["insurer", "agency"])
    for url in ledgers:  # committed by both replicas' ledger nodes
        store = SqlStore(url)
        try:
            wait_for(lambda s=store: not _active(s, "hospital-b"), f"removal in {url}")
        finally:
            store.close()
    for replica in (b, a):
        refused = ask_at(replica, a.url, other, ref, "TREAT", treat)
        assert refused.status_code in (401, 403), refused.text
        assert refused.json()["resourceType"] == "OperationOutcome"
