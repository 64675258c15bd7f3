"""One clock: two gateways run on a frozen clock far from wall time (2003). A consent valid only
then permits the insurer's query, the access.record carries that time, the custodian archived the
Consents it decided with at that time, and replay at the custodian confirms the decision: the
decision, the record and the evidence archive read the same injected clock."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.auth import jwt
from gateway.identity.consortium import create_consortium
from gateway.identity.files import load_private_key
from gateway.runtime import open_gateway
from gateway.services.replay import access_record_of, replay_tx
from gateway.settings import Settings
from gateway.store.evidence import EvidenceArchive
from ledger.ids import TxId
from ledger.storage.sql import SqlStore
from policies import default_policy
from tests.e2e import records
from tests.e2e.gateways import free_base_port
from tests.gateway.audit.harness import MEMBERS, RUNNING, run_async
from tests.gateway.member import token_form
from tests.gateway.serve import serve

FROZEN_MS = 1_054_468_800_000
"""2003-06-01T12:00:00Z: a consent for 2003 permits only on this clock, never on the wall's."""
FHIR = {"Content-Type": "application/fhir+json"}


def frozen() -> int:
    return FROZEN_MS


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    root = tmp_path_factory.mktemp("frozen")
    base = free_base_port(len(MEMBERS))
    created = create_consortium(root, "frozen clock consortium", MEMBERS, base_port=base)
    settings = {m.org: Settings.load(m.config) for m in created.members}
    with ExitStack() as stack:
        urls = {}
        for offset, org in enumerate(m.org for m in MEMBERS):
            if org in RUNNING:  # peers reach each other at their registered URLs
                app = run_async(open_gateway(settings[org], cut_after=0.02, clock_ms=frozen))
                urls[org] = stack.enter_context(serve(app, base + offset))
        yield root, urls


def headers(root: Path, org: str, url: str) -> dict[str, str]:
    """A SMART client token of ``org``'s EHR, asserted at the frozen time."""
    key = load_private_key(root / org / "clients" / "ehr.key")
    kid = json.loads((root / org / "clients" / "ehr.jwks.json").read_bytes())["keys"][0]["kid"]
    settings = Settings.load(root / org / "medgate.toml")
    now = FROZEN_MS // 1000
    claims = {
        "iss": "ehr",
        "sub": "ehr",
        "aud": f"{settings.public_url}/auth/token",
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(12),
    }
    form = token_form(jwt.sign(claims, key, kid), "system/*.read system/*.write")
    answer = httpx.post(f"{url}/auth/token", data=form, timeout=30)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def create(url: str, auth: dict[str, str], resource: dict[str, Any]) -> str:
    answer = httpx.post(
        f"{url}/fhir/{resource['resourceType']}", json=resource, headers=auth | FHIR, timeout=30
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_decide_record_and_replay_on_one_frozen_clock(
    gateways: tuple[Path, dict[str, str]],
) -> None:
    root, urls = gateways
    hospital = urls["hospital-a"]
    auth = headers(root, "hospital-a", hospital)
    national_id = f"NID-{secrets.token_hex(6)}"
    pid = create(hospital, auth, records.patient(national_id, "Frost", "Edith"))
    create(hospital, auth, records.claim(pid, 0))
    consent = records.consent(
        pid, "insurer-b", "HPAYMT", ["Claim"], start="2003-01-01", end="2004-01-01"
    )
    create(hospital, auth, consent)
    # A local opt-out the ledger cannot carry: replay finds it only by its archiving time.
    opt_out = records.consent(pid, "agency-c", "PUBHLTH", ["Observation"])
    opt_out["provision"]["type"] = "deny"
    create(hospital, auth, opt_out)

    ask = {
        "custodian": "hospital-a",
        "patient": {"system": records.NATIONAL_ID, "value": national_id},
        "purpose": "HPAYMT",
        "resource_types": ["Claim"],
    }
    insurer = headers(root, "insurer-b", urls["insurer-b"])
    answer = httpx.post(
        f"{urls['insurer-b']}/outbound/query", json=ask, headers=insurer, timeout=30
    )
    assert answer.status_code == 200, answer.text
    tx = TxId(answer.headers["X-Medgate-Access-Tx"])

    store = SqlStore(f"sqlite:///{root / 'hospital-a' / 'data' / 'ledger.db'}")
    archive = EvidenceArchive.from_url(f"sqlite:///{root / 'hospital-a' / 'data' / 'gateway.db'}")
    try:
        entry = None
        for _ in range(1500):  # bounded wait for the block (x 20 ms)
            entry = store.entry_by_tx(tx)
            if entry is not None:
                break
            run_async(_sleep())
        assert entry is not None
        record = access_record_of(entry)
        assert (record["ts"], record["decision"]) == (FROZEN_MS, "permit")
        ref = record["patient_ref"]
        assert {e.archived_ms for e in archive.for_patient(ref)} == {FROZEN_MS}
        report = replay_tx(store, tx, default_policy(), archive)
        assert report.status == "confirmed", report.to_json()
        assert len(report.evidence.local) == 1
    finally:
        store.close()
        archive.close()


async def _sleep() -> None:
    import asyncio

    await asyncio.sleep(0.02)
