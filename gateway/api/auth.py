"""SMART Backend Services routes: discovery document and the token endpoint."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from gateway.api.deps import ServicesDep
from gateway.errors import BadRequestError, UnsupportedMediaError

router = APIRouter(tags=["auth"])

SCOPES_SUPPORTED = ["system/*.read", "system/*.write", "system/*.*"]


@router.get("/.well-known/smart-configuration")
def smart_configuration(svc: ServicesDep) -> JSONResponse:
    return JSONResponse(
        {
            "issuer": svc.tokens.issuer,
            "token_endpoint": svc.tokens.token_endpoint,
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
            "scopes_supported": SCOPES_SUPPORTED,
            "capabilities": ["client-confidential-asymmetric", "permission-v1"],
        }
    )


@router.post("/auth/token")
async def token(request: Request, svc: ServicesDep) -> JSONResponse:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise UnsupportedMediaError(media_type)
    form = _form(await request.body())
    issued = await run_in_threadpool(svc.tokens.exchange, form, svc.clock())
    body = {
        "access_token": issued.access_token,
        "token_type": "bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _form(raw: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError("the token request is not a valid form") from exc
    form = dict(pairs)
    if len(form) != len(pairs):
        # RFC 6749 section 3.2: request parameters must not be included more than once.
        raise BadRequestError("a token request parameter is repeated")
    return form
