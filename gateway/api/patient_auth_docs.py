"""OpenAPI descriptions of the patient sign-in routes (gateway.api.patient_auth): forms,
redirects and the session token body, kept apart so the routes read as code."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.api.contract import OAUTH_ERROR_REF, error_response

FORM = "application/x-www-form-urlencoded"


class SessionToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    access_token: str = Field(description="patient token (ES256 JWT, aud <public_url>/patient)")
    token_type: str = Field(description="Bearer")
    expires_in: int = Field(description="seconds (patient_auth.access_seconds)")
    scope: str = Field(description="the granted scopes, space-separated")
    refresh_token: str = Field(description="single use; a new one comes with every answer")
    patient: str = Field(description="the patient context: the patient's patient_ref")
    patient_ref: str


AUTHORIZE_DOC: dict[str, Any] = {
    "openapi_extra": {"security": []},
    "responses": {
        200: {"description": "the sign-in page (HTML)", "content": {"text/html": {}}},
        302: {"description": "refusal sent back to the app: redirect_uri?error=...&state=..."},
        400: error_response(400),
        503: error_response(503),
    },
}


INVITATION_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["request", "code"],
    "properties": {
        "request": {"type": "string", "description": "the handle from the sign-in page"},
        "code": {"type": "string", "description": "the invitation code, as printed"},
    },
}


def form_doc(form: dict[str, Any], *statuses: int) -> dict[str, Any]:
    responses: dict[int | str, Any] = {s: error_response(s) for s in statuses}
    responses[303] = {"description": "to the app's redirect_uri with code and state"}
    return {
        "responses": responses,
        "openapi_extra": {
            "security": [],
            "requestBody": {"required": True, "content": {FORM: {"schema": form}}},
        },
    }


TOKEN_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["grant_type", "client_id"],
    "properties": {
        "grant_type": {"enum": ["authorization_code", "refresh_token"]},
        "client_id": {"type": "string"},
        "code": {"type": "string", "description": "authorization_code grant"},
        "redirect_uri": {"type": "string", "description": "authorization_code grant"},
        "code_verifier": {"type": "string", "description": "authorization_code grant (PKCE)"},
        "refresh_token": {"type": "string", "description": "refresh_token grant (single use)"},
    },
}


def oauth_doc(form: dict[str, Any], ok: dict[str, Any]) -> dict[str, Any]:
    refusal = {"content": {"application/json": {"schema": {"$ref": OAUTH_ERROR_REF}}}}
    return {
        "responses": {
            200: ok,
            400: {"description": "invalid_request, invalid_grant, ...", **refusal},
            401: {"description": "invalid_client (unknown client_id)", **refusal},
        },
        "openapi_extra": {
            "security": [],
            "requestBody": {"required": True, "content": {FORM: {"schema": form}}},
        },
    }


REVOKE_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["token", "client_id"],
    "properties": {"token": {"type": "string"}, "client_id": {"type": "string"}},
}


REVOKED = {
    "description": "revoked (also for an unknown token): an empty JSON object",
    "content": {"application/json": {"schema": {"type": "object", "maxProperties": 0}}},
}


OIDC_START_DOC: dict[str, Any] = {
    "responses": {
        303: {"description": "to the IdP's authorization endpoint"},
        400: error_response(400),
        404: error_response(404),
        503: error_response(503),
    },
    "openapi_extra": {
        "security": [],
        "requestBody": {
            "required": True,
            "content": {
                FORM: {
                    "schema": {
                        "type": "object",
                        "required": ["request"],
                        "properties": {"request": {"type": "string"}},
                    }
                }
            },
        },
    },
}
OIDC_CALLBACK_DOC: dict[str, Any] = {
    "responses": {
        303: {"description": "to the app with code and state"},
        400: error_response(400),
        401: error_response(401),
        404: error_response(404),
        503: error_response(503),
    },
    "openapi_extra": {"security": []},
}
