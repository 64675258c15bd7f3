"""The HTTP contract's shared pieces: security schemes, error bodies, headers, and the decorator
arguments that attach them to a route (``**secured(SMART, errors=(403,))``).

Routes declare what they need here; ``gateway.api.openapi`` assembles the document. Nothing in
this module runs per request: it only shapes ``/openapi.json``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from gateway.peers.errors import ACCESS_TX_HEADER, OBLIGATIONS_HEADER

OUTCOME_REF = "#/components/schemas/OperationOutcome"
OAUTH_ERROR_REF = "#/components/schemas/OAuthError"


class Scheme(enum.StrEnum):
    """The three credentials a request may carry, each an ``Authorization: Bearer`` JWT."""

    SMART = "smartBackend"
    PEER = "peerAssertion"
    PATIENT = "patientBearer"


SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    Scheme.SMART: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "SMART Backend Services access token of one of this member's own "
        "registered clients, from POST /auth/token (ES256, 5 minutes; scopes "
        "system/<Type>.<read|write|*>). See docs/smart-auth.md.",
    },
    Scheme.PEER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Peer assertion: an ES256 JWT signed by another member gateway's "
        "registered signing key, one per request (iss = sub = organization_id = the org, "
        "aud = this gateway's public_url, exp - iat <= 300 s, unique jti, purpose_of_use, "
        "optional consent_reference). See docs/smart-auth.md.",
    },
    Scheme.PATIENT: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Patient token: from the patient's sign-in at their hospital gateway "
        "(SMART standalone launch, code + PKCE: /patient/authorize, /patient/oauth/token), or "
        "minted by the hospital's back end (POST /patient/token, system/PatientToken.write); "
        "names one patient_ref. Opens the patient's own audit log, consents and notifications "
        "(writes need scope patient/Consent.write and the header X-Medgate-CSRF: 1), the "
        "policy, ledger-wide consistency proofs and the patient routes its scopes allow, nothing "
        "else. See docs/patient-sign-in.md, docs/patient-proofs.md and docs/consent.md.",
    },
}

STATUS_TEXT = {
    400: "Malformed request: bad parameter, body or media type (OperationOutcome).",
    401: "Missing or invalid credentials (OperationOutcome, WWW-Authenticate: Bearer).",
    403: "Authenticated, but the scope or the policy does not allow it (OperationOutcome).",
    404: "No such resource (OperationOutcome).",
    409: "Version conflict, duplicate, or a governance step already taken (OperationOutcome).",
    410: "Gone: the proposal expired (OperationOutcome).",
    413: "Request body over the configured limit (OperationOutcome).",
    415: "Content-Type not accepted (OperationOutcome).",
    422: "The resource fails FHIR R4 validation, or the ledger would refuse the proposed "
    "governance change (OperationOutcome).",
    429: "Too many requests from one peer (OperationOutcome).",
    500: "Internal error; details only in the gateway log (OperationOutcome).",
    502: "The peer gateway answered something that does not verify (OperationOutcome).",
    503: "A dependency is not ready: ledger, member registry, checkpoints (OperationOutcome).",
}

HEADERS: dict[str, dict[str, Any]] = {
    ACCESS_TX_HEADER: {
        "description": "tx_id (64 hex) of the access.record entry this decision was recorded "
        "under on the ledger: look it up with `medgate audit replay` or /ledger/entries.",
        "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    },
    OBLIGATIONS_HEADER: {
        "description": "The decision's obligation codes, sorted, joined by `,` without spaces "
        "(e.g. `audit,deidentify`, `audit,break-glass-until:<epoch ms>,notify-patient`); inside a "
        "code `%`, `,` and bytes outside `!`..`~` are percent-encoded. Codes: audit, "
        "notify-patient, deidentify, referenced-only, break-glass-until:<ms>, redact:<label>, "
        "exclude-<part>:<value>, limit-<part>:<value> (docs/release-policy.md).",
        "schema": {"type": "string"},
    },
}

REQUEST_ID = {
    "description": "The id of the gateway's log line for this request (16 hex digits, made by "
    "the gateway): quote it when reporting a problem.",
    "schema": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
}

WWW_AUTHENTICATE = {
    "description": "RFC 6750 challenge naming the error",
    "schema": {"type": "string"},
}

OPERATION_OUTCOME: dict[str, Any] = {
    "title": "OperationOutcome",
    "description": "FHIR R4 OperationOutcome: the first issue summarises; diagnostics never "
    "echo request values.",
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

OAUTH_ERROR: dict[str, Any] = {
    "title": "OAuthError",
    "description": "RFC 6749 section 5.2 error body of the token endpoint.",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "enum": [
                "invalid_request",
                "invalid_client",
                "invalid_grant",
                "unauthorized_client",
                "unsupported_grant_type",
                "invalid_scope",
            ]
        },
        "error_description": {"type": "string"},
    },
}


def error_response(status: int) -> dict[str, Any]:
    """The OpenAPI response object of an OperationOutcome answer with ``status``."""
    content = {
        media: {"schema": {"$ref": OUTCOME_REF}}
        for media in ("application/fhir+json", "application/json")
    }
    out: dict[str, Any] = {"description": STATUS_TEXT[status], "content": content}
    if status == 401:
        out["headers"] = {"WWW-Authenticate": WWW_AUTHENTICATE}
    return out


def secured(
    *schemes: Scheme,
    errors: Iterable[int] = (),
    ok: type[BaseModel] | None = None,
    body: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Route decorator arguments: any one of ``schemes`` authenticates the request (none: open);
    ``errors`` lists the statuses the route itself may answer besides the common ones; ``ok`` is
    the documented 200 body (the route builds its JSON itself: no response_model validation);
    ``body`` maps media types to the schema of a body the route reads raw."""
    extra: dict[str, Any] = {"security": [{str(s): []} for s in schemes]}
    if body is not None:
        content = {media: {"schema": schema} for media, schema in body.items()}
        extra["requestBody"] = {"required": True, "content": content}
    responses: dict[int | str, Any] = {s: error_response(s) for s in errors}
    args: dict[str, Any] = {"openapi_extra": extra, "responses": responses}
    if ok is not None:
        responses[200] = {"model": ok}
        args["response_model"] = None
    return args


def json_response(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    """An OpenAPI 200 response of JSON ``schema``."""
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }
