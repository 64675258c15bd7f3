"""The OpenAPI document covers every route the app serves, with credentials, errors and headers."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, routing

UI_ROUTES = {
    "/openapi.json",
    "/docs",
    "/docs/init.js",
    "/docs/assets/{name}",
    "/portal",
    "/portal/{name}.js",
    "/portal/portal.css",
}
"""Pages and assets for browsers: served, deliberately not operations of the API."""
ERROR_SCHEMAS = {"#/components/schemas/OperationOutcome", "#/components/schemas/OAuthError"}


def served(app: FastAPI) -> set[tuple[str, str]]:
    """(METHOD, path template) of every route the app answers, FastAPI's or plain Starlette's."""
    out = set()
    for context in routing.iter_route_contexts(app.routes):
        for method in context.methods or ():
            if method != "HEAD":
                out.add((method, context.path))
    return out


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }


def test_every_served_route_is_documented(client: httpx.Client) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    documented = set(operations(doc))
    undocumented = {r for r in served(app) if r[1] not in UI_ROUTES} - documented
    assert not undocumented, f"routes missing from /openapi.json: {sorted(undocumented)}"
    assert not {r for r in documented if r[1] in UI_ROUTES}
    assert documented <= served(app), "documented operations no route serves"
    assert ("POST", "/outbound/query") in documented
    assert ("POST", "/exchange/query") in documented


def test_every_operation_states_credentials_and_error_bodies(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    schemes = set(doc["components"]["securitySchemes"])
    assert schemes == {"smartBackend", "peerAssertion", "patientBearer"}
    for key, op in operations(doc).items():
        assert "security" in op, f"{key} does not say which credential it needs"
        assert {name for req in op["security"] for name in req} <= schemes
        # A success is a 2xx, or for the patient sign-in steps a redirect (302/303) to the app.
        assert any(status[0] in "23" for status in op["responses"]), key
        assert "422" not in op["responses"] or "HTTPValidationError" not in str(op), key
        for status, answer in op["responses"].items():
            if status[0] in "45":
                refs = {m["schema"]["$ref"] for m in answer["content"].values()}
                assert refs <= ERROR_SCHEMAS, (key, status)
        if op["security"]:
            assert "401" in op["responses"], key


def test_exchange_headers_and_token_form_are_described(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    ops = operations(doc)
    for key in (("POST", "/outbound/query"), ("POST", "/exchange/query")):
        headers = ops[key]["responses"]["200"]["headers"]
        assert set(headers) == {"X-Medgate-Access-Tx", "X-Medgate-Obligations", "X-Request-Id"}
        assert ops[key]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    form = ops[("POST", "/auth/token")]["requestBody"]["content"]
    fields = form["application/x-www-form-urlencoded"]["schema"]["required"]
    assert fields == ["grant_type", "client_assertion_type", "client_assertion"]
    assert ops[("POST", "/auth/token")]["responses"]["401"]["content"]["application/json"]
    query_body = doc["components"]["schemas"]["QueryBody"]
    assert set(query_body["required"]) == {"custodian", "patient", "purpose", "resource_types"}


def test_patients_may_read_consistency_proofs_and_nothing_else_of_the_ledger(
    client: httpx.Client,
) -> None:
    ops = operations(client.get("/openapi.json").json())
    patient_ledger_ops = {
        key
        for key, op in ops.items()
        if key[1].startswith("/ledger") and {"patientBearer": []} in op["security"]
    }
    assert patient_ledger_ops == {("GET", "/ledger/proof/consistency")}


def test_every_answer_names_its_request_id_header(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    missing = [
        (path, method, status)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        for status, response in operation["responses"].items()
        if "X-Request-Id" not in response.get("headers", {})
    ]
    assert missing == []
    answer = client.get("/healthz")
    assert len(answer.headers["X-Request-Id"]) == 16
