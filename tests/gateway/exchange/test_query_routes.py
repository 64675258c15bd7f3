"""The exchange's two query routes are plain Starlette endpoints: they still check credentials
before the body, refuse malformed bodies with an OperationOutcome located as FastAPI located it,
and refuse replayed peer assertions; over two real gateways on loopback sockets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.auth.peer import make_peer_assertion
from gateway.identity.files import load_private_key
from gateway.peers.errors import ACCESS_TX_HEADER
from tests.gateway.audit.harness import MRN, MRN_SYSTEM, Consortium, running_consortium

HOSPITAL, INSURER = "hospital-a", "insurer-b"


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running_consortium(tmp_path_factory.mktemp("routes")) as c:
        yield c


def outbound(c: Consortium, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(
        f"{c.urls[INSURER]}/outbound/query",
        content=content,
        headers={"Content-Type": "application/json", **headers},
        timeout=30,
    )


def assertion(c: Consortium, purpose: str = "HPAYMT") -> str:
    return make_peer_assertion(
        load_private_key(Path(c.root) / INSURER / "keys" / "signing.key"),
        org=INSURER,
        audience=c.settings[HOSPITAL].public_url,
        purpose=purpose,
        now=int(time.time()),
    )


def ask(c: Consortium, token: str, body: Any) -> httpx.Response:
    return httpx.post(
        f"{c.urls[HOSPITAL]}/exchange/query",
        content=orjson.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
    )


QUERY = {
    "custodian": HOSPITAL,
    "patient": {"system": MRN_SYSTEM, "value": MRN},
    "purpose": "HPAYMT",
    "resource_types": ["Claim"],
}


def outcome(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issues: list[dict[str, Any]] = body["issue"]
    return issues


def test_outbound_query_wants_a_token_before_reading_the_body(consortium: Consortium) -> None:
    assert outcome(outbound(consortium, b"not json"), 401)[0]["code"] == "login"
    bad = outbound(consortium, QUERY, Authorization="Bearer x.y.z")
    assert outcome(bad, 401)[0]["code"] == "login"


def test_outbound_query_refuses_malformed_bodies(consortium: Consortium) -> None:
    auth = {"Authorization": f"Bearer {consortium.client_token(INSURER)}"}
    issues = outcome(outbound(consortium, {**QUERY, "extra": 1}, **auth), 400)
    assert issues[0]["code"] == "invalid"
    assert ["body.extra"] in [i.get("expression") for i in issues]
    issues = outcome(outbound(consortium, {**QUERY, "custodian": "Not An Org"}, **auth), 400)
    assert ["body.custodian"] in [i.get("expression") for i in issues]
    assert outcome(outbound(consortium, b"{", **auth), 400)[0]["code"] == "invalid"
    text = outbound(consortium, QUERY, **auth, **{"Content-Type": "text/plain"})
    assert outcome(text, 415)[0]["code"] == "not-supported"


def test_outbound_query_needs_a_read_scope_for_every_type(consortium: Consortium) -> None:
    token = consortium.client_token(INSURER, "system/Coverage.read")
    response = outbound(consortium, QUERY, Authorization=f"Bearer {token}")
    assert outcome(response, 403)[0]["code"] == "forbidden"


def test_custodian_route_checks_the_assertion_then_the_body(consortium: Consortium) -> None:
    body = {
        "patient_ref": consortium.ref,
        "resource_types": ["Claim"],
        "purpose": "HPAYMT",
    }
    assert outcome(ask(consortium, "x.y.z", {"nonsense": True}), 401)[0]["code"] == "login"
    issues = outcome(ask(consortium, assertion(consortium), {**body, "patient_ref": "x"}), 400)
    assert ["body.patient_ref"] in [i.get("expression") for i in issues]
    token = assertion(consortium)
    first = ask(consortium, token, body)
    # No consent was recorded for the insurer: a recorded denial, answered 403.
    assert outcome(first, 403)[0]["code"] == "forbidden"
    assert first.headers[ACCESS_TX_HEADER]
    assert outcome(ask(consortium, token, body), 401)[0]["code"] == "login"  # jti replayed


def decisions(c: Consortium, effect: str) -> int:
    text = httpx.get(f"{c.urls[HOSPITAL]}/metrics", timeout=30).text
    name = f'medgate_decisions_total{{effect="{effect}"}} '
    return sum(int(float(line[len(name) :])) for line in text.splitlines() if line.startswith(name))


def test_every_recorded_decision_is_counted_by_effect(consortium: Consortium) -> None:
    body = {"patient_ref": consortium.ref, "resource_types": ["Claim"], "purpose": "HPAYMT"}
    denied, permitted = decisions(consortium, "deny"), decisions(consortium, "permit")
    for _ in range(2):  # no consent for the insurer: two recorded denials
        assert outcome(ask(consortium, assertion(consortium), body), 403)[0]["code"] == "forbidden"
    assert outcome(ask(consortium, "x.y.z", body), 401)  # refused before any decision: not counted
    assert decisions(consortium, "deny") == denied + 2
    assert decisions(consortium, "permit") == permitted
