"""SMART Backend Services routes: discovery document and the token endpoint.

The token endpoint answers refusals with RFC 6749 section 5.2 bodies (``{"error": ...}``), the shape
SMART client libraries parse; every other route answers OperationOutcome.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from gateway.api import patient_auth, schemas
from gateway.api.contract import OAUTH_ERROR_REF, secured
from gateway.api.deps import ServicesDep
from gateway.auth.jwt import CLIENT_ALGORITHMS
from gateway.auth.smart import ASSERTION_TYPE
from gateway.errors import NO_STORE, OAuthCode, OAuthError
from gateway.patientauth.pkce import METHODS as PKCE_METHODS
from gateway.patientauth.requests import SCOPES_SUPPORTED as PATIENT_SCOPES
from gateway.patientauth.server import GRANT_TYPES as PATIENT_GRANTS

router = APIRouter(tags=["auth"])

SCOPES_SUPPORTED = ["system/*.read", "system/*.write", "system/*.*", "system/PatientToken.write"]
PATIENT_CAPABILITIES = [
    "launch-standalone",
    "client-public",
    "context-standalone-patient",
    "permission-patient",
    "permission-offline",
]
FORM = "application/x-www-form-urlencoded"

TOKEN_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["grant_type", "client_assertion_type", "client_assertion"],
    "properties": {
        "grant_type": {"const": "client_credentials"},
        "client_assertion_type": {"const": ASSERTION_TYPE},
        "client_assertion": {
            "type": "string",
            "description": "JWT signed with a key registered for the client ("
            + ", ".join(CLIENT_ALGORITHMS)
            + "): iss = sub = client_id, aud = the token endpoint URL, exp at most 300 s "
            "after iat, unique jti",
        },
        "scope": {"type": "string", "description": "space-separated system/<Type>.<action>"},
    },
}


def _token_doc() -> dict[str, Any]:
    args = secured(ok=schemas.TokenResponse, body={FORM: TOKEN_FORM})
    refusal = {"content": {"application/json": {"schema": {"$ref": OAUTH_ERROR_REF}}}}
    args["responses"][400] = {"description": "invalid_request, invalid_scope, ...", **refusal}
    args["responses"][401] = {"description": "invalid_client", **refusal}
    return args


@router.get("/.well-known/smart-configuration", **secured(ok=schemas.SmartConfiguration))
def smart_configuration(svc: ServicesDep) -> JSONResponse:
    return JSONResponse(
        {
            "issuer": svc.tokens.issuer,
            "token_endpoint": svc.tokens.token_endpoint,
            "grant_types_supported": ["client_credentials", *PATIENT_GRANTS],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": list(CLIENT_ALGORITHMS),
            "scopes_supported": [*SCOPES_SUPPORTED, *PATIENT_SCOPES],
            "capabilities": [
                "client-confidential-asymmetric",
                "permission-v1",
                *PATIENT_CAPABILITIES,
            ],
            # Patient sign-in (SMART App Launch, standalone; docs/patient-sign-in.md).
            "authorization_endpoint": f"{svc.tokens.issuer}/patient/authorize",
            "revocation_endpoint": f"{svc.tokens.issuer}/patient/oauth/revoke",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": list(PKCE_METHODS),
        }
    )


@router.post("/auth/token", **_token_doc())
async def token(request: Request, svc: ServicesDep) -> JSONResponse:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        raise OAuthError(OAuthCode.INVALID_REQUEST, f"the body must be {FORM}")
    form = _form(await request.body())
    if form.get("grant_type") in PATIENT_GRANTS:
        # SMART App Launch apps use the one token_endpoint of the discovery document.
        return await patient_auth.token_response(request, form)
    issued = await run_in_threadpool(svc.tokens.exchange, form, svc.clock())
    body = {
        "access_token": issued.access_token,
        "token_type": "bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    }
    return JSONResponse(body, headers=NO_STORE)


def _form(raw: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthError(OAuthCode.INVALID_REQUEST, "the body is not a valid form") from exc
    form = dict(pairs)
    if len(form) != len(pairs):
        # RFC 6749 section 3.2: request parameters must not be included more than once.
        raise OAuthError(OAuthCode.INVALID_REQUEST, "a token request parameter is repeated")
    return form
