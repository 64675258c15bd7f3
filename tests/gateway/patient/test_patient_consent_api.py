"""Consent by the patient over the API: grant to a named member, see it in force, the insurer's
next query is released; revoke, and the next query is denied. Writes need the write scope, the
CSRF header and, from a browser, this gateway's own Origin."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.audit.harness import Consortium
from tests.gateway.patient.harness import (
    HOSPITAL,
    INSURER,
    NAMES,
    insurer_query,
    patient_headers,
    portal_consortium,
)

pytestmark = pytest.mark.e2e
GRANT = {
    "grantee": "insurer-b",
    "purposes": ["HPAYMT"],
    "resource_types": ["Claim"],
    "start": "2020-01-01",
    "end": "2099-01-01",
}


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with portal_consortium(tmp_path_factory.mktemp("consent")) as found:
        yield found


def test_grant_then_revoke_changes_the_insurers_next_answer(c: Consortium) -> None:
    url = c.urls[HOSPITAL]
    assert insurer_query(c).status_code == 403  # no consent yet
    headers = patient_headers(c)
    members = httpx.get(f"{url}/patient/members", headers=headers, timeout=30).json()
    assert {"org": "insurer-b", "name": NAMES[INSURER], "role": "insurer"} in members["members"]
    assert all(m["org"] != HOSPITAL for m in members["members"])
    granted = httpx.post(f"{url}/patient/consents", json=GRANT, headers=headers, timeout=60)
    assert granted.status_code == 201, granted.text
    consent_id = granted.json()["consent_id"]
    listed = httpx.get(f"{url}/patient/consents", headers=headers, timeout=30).json()["consents"]
    mine = [row for row in listed if row["consent_id"] == consent_id]
    assert len(mine) == 1
    assert mine[0]["in_force"]
    assert mine[0]["revocable"]
    assert mine[0]["purposes_text"] == ["paying for your care (insurance claims)"]
    assert mine[0]["resource_text"] == "insurance claims"
    released = insurer_query(c)
    assert released.status_code == 200, released.text
    assert {e["resource"]["resourceType"] for e in released.json()["entry"]} == {"Claim"}

    path = f"{url}/patient/consents/{consent_id}/revoke"
    revoked = httpx.post(path, headers=headers, timeout=60)
    assert revoked.status_code == 200, revoked.text
    listed = httpx.get(f"{url}/patient/consents", headers=headers, timeout=30).json()["consents"]
    row = next(r for r in listed if r["consent_id"] == consent_id)
    assert row["status"] == "revoked"
    assert not row["in_force"]
    assert not row["revocable"]
    assert insurer_query(c).status_code == 403
    again = httpx.post(path, headers=headers, timeout=60)
    assert again.status_code == 404  # nothing active left to revoke


def test_writes_need_the_csrf_header_and_our_origin(c: Consortium) -> None:
    url = c.urls[HOSPITAL]
    no_header = patient_headers(c, csrf=False)
    refused = httpx.post(f"{url}/patient/consents", json=GRANT, headers=no_header, timeout=30)
    assert refused.status_code == 403
    assert "X-Medgate-CSRF" in refused.json()["issue"][0]["diagnostics"]
    evil = patient_headers(c) | {"Origin": "https://evil.example"}
    refused = httpx.post(f"{url}/patient/consents", json=GRANT, headers=evil, timeout=30)
    assert refused.status_code == 403
    ours = patient_headers(c) | {"Origin": url}
    bad = GRANT | {"grantee": "hospital-a"}
    answered = httpx.post(f"{url}/patient/consents", json=bad, headers=ours, timeout=30)
    assert answered.status_code == 400  # past the CSRF checks, refused for what it says


def test_writes_need_a_patient_token_and_bad_forms_are_refused(c: Consortium) -> None:
    url = c.urls[HOSPITAL]
    ehr = {"Authorization": f"Bearer {c.client_token(HOSPITAL)}", "X-Medgate-CSRF": "1"}
    assert (
        httpx.post(f"{url}/patient/consents", json=GRANT, headers=ehr, timeout=30).status_code
        == 401
    )
    assert httpx.get(f"{url}/patient/consents", timeout=30).status_code == 401
    headers = patient_headers(c)
    for bad in (
        GRANT | {"purposes": ["NOPE"]},
        GRANT | {"resource_types": ["Spaceship"]},
        GRANT | {"end": "2019-01-01"},
        GRANT | {"grantee": "nobody"},
    ):
        answer = httpx.post(f"{url}/patient/consents", json=bad, headers=headers, timeout=30)
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["resourceType"] == "OperationOutcome"
    fake = f"{url}/patient/consents/c-{'0' * 40}/revoke"
    assert httpx.post(fake, headers=headers, timeout=30).status_code == 404


def test_the_timeline_says_who_why_what_and_why_not_in_words(c: Consortium) -> None:
    """After the grant/revoke test: the insurer's three queries (refused, shared, refused)."""
    url = c.urls[HOSPITAL]
    for _ in range(1500):  # bounded wait (x 20 ms) until a final checkpoint covers them
        audit = httpx.get(f"{url}/patient/audit", headers=patient_headers(c), timeout=30).json()
        if audit["pending"] == 0 and len(audit["entries"]) >= 3:
            break
        time.sleep(0.02)
    shown = [e["display"] for e in audit["entries"]]
    assert [d["decision"] for d in shown] == ["refused", "shared", "refused"]
    for d in shown:
        assert d["who"] == NAMES[INSURER]
        assert d["holder"] == NAMES[HOSPITAL]
        assert d["why"] == "paying for your care (insurance claims)"
        assert d["what"] == "insurance claims"
        assert d["break_glass"] is False
    assert shown[0]["reason"] == "you have not given consent for this"
    assert shown[1]["reason"] == "allowed by your consent"
    cosigners = {s["org"]: s["name"] for s in audit["cosigners"]}
    assert cosigners == {org: NAMES[org] for org in c.urls}
