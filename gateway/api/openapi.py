"""The gateway's OpenAPI 3.1 document: FastAPI's routes, the two plain Starlette exchange routes,
the security schemes and the OperationOutcome error answers, built once per app.

The exchange's hot routes bypass FastAPI (see ``gateway.api.deps``), so FastAPI cannot see them:
their operations are written here from the same pydantic body models the routes validate with,
which keeps the document and the code on one definition while the request path stays untouched.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from gateway.api import contract
from gateway.api.contract import Scheme, error_response
from gateway.api.exchange import JOSE_JSON, AskBody
from gateway.api.outbound import QueryBody
from gateway.errors import FHIR_JSON
from gateway.peers.errors import ACCESS_TX_HEADER, OBLIGATIONS_HEADER

VERSION = "0.1.0"
REF = "#/components/schemas/{model}"
VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
BODY_MEDIA = ("application/json", FHIR_JSON)

DESCRIPTION = """\
One member gateway of a medgate consortium: its FHIR R4 store, the sealed exchange with the other
members (every release decided by the consortium policy and recorded on the shared ledger before
it leaves), the ledger's read API with RFC 9162 proofs, and the patient's own access log.

Every error is a FHIR OperationOutcome, except the token endpoint's, which are RFC 6749 section
5.2 bodies. Credentials: see the security schemes and docs/smart-auth.md."""

TAGS = [
    {"name": "auth", "description": "SMART Backend Services discovery and token endpoint"},
    {"name": "fhir", "description": "This member's FHIR R4 store (its own clients)"},
    {"name": "outbound", "description": "Queries and deliveries this member's clients send out"},
    {"name": "exchange", "description": "Gateway-to-gateway routes (peer assertion)"},
    {"name": "patient", "description": "The patient's token and access log"},
    {
        "name": "patient-auth",
        "description": "Patient sign-in: SMART standalone launch, code + PKCE, invitation "
        "codes, OIDC federation (docs/patient-sign-in.md)",
    },
    {"name": "ledger_api", "description": "Read access to the ledger, proofs, alarm clearing"},
    {"name": "policy", "description": "The consortium policy in force"},
    {"name": "health", "description": "Liveness and readiness probes"},
    {"name": "metrics", "description": "Prometheus metrics"},
]

FHIR_BUNDLE: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"const": "Bundle"}, "type": {"const": "searchset"}},
    "description": "FHIR R4 searchset Bundle of the released resources",
}


def install(app: FastAPI) -> None:
    """Serve ``build(app)`` at the app's openapi_url, built on first use and then kept (the
    routes of a running app never change)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def build(app: FastAPI) -> dict[str, Any]:
    """The complete document of ``app``."""
    doc = get_openapi(
        title=app.title,
        version=VERSION,
        description=DESCRIPTION,
        routes=app.routes,
        tags=TAGS,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas["OperationOutcome"] = contract.OPERATION_OUTCOME
    schemas["OAuthError"] = contract.OAUTH_ERROR
    components["securitySchemes"] = contract.SECURITY_SCHEMES
    doc["paths"].update(fast_paths(schemas))
    for item in doc["paths"].values():
        for operation in item.values():
            _complete(operation)
    return doc


def _body_schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _json_body(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = _body_schema(model, schemas)
    return {"required": True, "content": {"application/json": {"schema": ref}}}


def _released_headers() -> dict[str, Any]:
    return {name: contract.HEADERS[name] for name in (ACCESS_TX_HEADER, OBLIGATIONS_HEADER)}


def fast_paths(schemas: dict[str, Any]) -> dict[str, Any]:
    """The operations of the plain Starlette routes (``exchange.fast_routes``,
    ``outbound.fast_routes``), their bodies registered in ``schemas``."""
    outbound_query = {
        "tags": ["outbound"],
        "summary": "Query another member for a patient's records",
        "description": "The custodian decides under the consortium policy, records the access "
        "on the ledger, then answers: a plain searchset Bundle (the sealed envelope opened and "
        "verified here), or its refusal relayed with the custodian's status. Needs a read "
        "scope covering every requested type.",
        "operationId": "outbound_query",
        "security": [{Scheme.SMART.value: []}],
        "requestBody": _json_body(QueryBody, schemas),
        "responses": {
            "200": {
                "description": "Released records",
                "headers": _released_headers(),
                "content": {FHIR_JSON: {"schema": FHIR_BUNDLE}},
            },
            **_errors(403, 404, 409, 422, 429, 502, 503),
        },
    }
    exchange_query = {
        "tags": ["exchange"],
        "summary": "A peer's query (custodian side): decide, record, answer sealed",
        "description": "The patient is named by patient_ref only. On permit: the records "
        "signed by this member (JWS ES256) and encrypted for the requester (JWE JSON), after "
        "the access.record entry is ordered; on deny: 403 with the recorded tx id.",
        "operationId": "exchange_query",
        "security": [{Scheme.PEER.value: []}],
        "requestBody": _json_body(AskBody, schemas),
        "responses": {
            "200": {
                "description": "Sealed envelope (JWE JSON serialization)",
                "headers": _released_headers(),
                "content": {JOSE_JSON: {"schema": {"type": "object"}}},
            },
            "403": {
                **error_response(403),
                "headers": {ACCESS_TX_HEADER: contract.HEADERS[ACCESS_TX_HEADER]},
            },
            **_errors(429, 503),
        },
    }
    return {
        "/outbound/query": {"post": outbound_query},
        "/exchange/query": {"post": exchange_query},
    }


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): error_response(s) for s in statuses}


def _complete(operation: dict[str, Any]) -> None:
    """Add the answers every route may give: 400 for a bad parameter or body, 401 without valid
    credentials, 413/415 for a body, 500; replace FastAPI's 422 (the gateway answers 400)."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    unprocessable = responses.get("422", {})
    if "HTTPValidationError" in str(unprocessable):
        del responses["422"]
    body = operation.get("requestBody", {})
    common = [500]
    if operation.get("parameters") or body:
        common.append(400)
    if operation.get("security"):
        common.append(401)
    if body:
        common.append(413)
        if any(media in body.get("content", {}) for media in BODY_MEDIA):
            common.append(415)
    for code in common:
        responses.setdefault(str(code), error_response(code))
    for status, response in responses.items():
        # Every answer carries it (gateway.requestlog); copied, error responses may be shared.
        responses[status] = {
            **response,
            "headers": {**response.get("headers", {}), "X-Request-Id": contract.REQUEST_ID},
        }
    operation["responses"] = dict(sorted(responses.items()))
