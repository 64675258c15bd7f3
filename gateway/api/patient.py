"""Routes: the patient's own view: tokens, the access log with proofs, the portal."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from gateway.api import schemas
from gateway.api.contract import Scheme, secured
from gateway.api.deps import BearerDep, GrantDep, ServicesDep
from gateway.api.patient_auth import signin_of
from gateway.auth.scopes import Action, allows
from gateway.errors import FHIR_JSON, ForbiddenError, NotFoundError, UnavailableError
from gateway.services.audit_fhir import audit_bundle
from gateway.services.patient_audit import patient_audit
from gateway.services.patient_tokens import PatientTokens
from gateway.services.timeline import describe
from ledger.ids import PatientRef

log = logging.getLogger("medgate.patient")
router = APIRouter(prefix="/patient", tags=["patient"])
portal_router = APIRouter(tags=["portal"])
FHIR_FORMATS = frozenset({"fhir", "json+fhir", FHIR_JSON})
_PORTAL_FILES = {
    "portal.html": "text/html; charset=utf-8",
    "portal.js": "text/javascript",
    "merkle.js": "text/javascript",
    "history.js": "text/javascript",
    "timeline.js": "text/javascript",
    "signin.js": "text/javascript",
    "consents.js": "text/javascript",
    "notices.js": "text/javascript",
    "portal.css": "text/css; charset=utf-8",
}


class Identifier(BaseModel):
    system: str = Field(min_length=1, max_length=256)
    value: str = Field(min_length=1, max_length=256)


class TokenRequest(BaseModel):
    identifier: Identifier


def _audit_doc() -> dict[str, Any]:
    args = secured(Scheme.PATIENT, errors=(503,), ok=schemas.PatientAudit)
    bundle = {"type": "object", "description": "FHIR Bundle of AuditEvents (_format=fhir)"}
    args["responses"][200]["content"] = {FHIR_JSON: {"schema": bundle}}
    return args


def _patient_tokens(svc: ServicesDep) -> PatientTokens:
    if svc.patient_tokens is None:
        raise UnavailableError("this gateway issues no patient tokens")
    return svc.patient_tokens


def patient_of(svc: ServicesDep, token: BearerDep) -> PatientRef:
    """The patient a patient token names (401 otherwise)."""
    return _patient_tokens(svc).check(token, svc.clock())


PatientDep = Annotated[PatientRef, Depends(patient_of)]


@router.post(
    "/token",
    **secured(Scheme.SMART, errors=(403, 404, 503), ok=schemas.PatientToken),
)
def issue_token(
    request: Request, svc: ServicesDep, grant: GrantDep, body: TokenRequest
) -> dict[str, Any]:
    """Mint a patient token for the patient with ``identifier`` (back end only: SMART scope
    ``system/PatientToken.write``, which no wildcard grants; 404 unless this hospital holds the
    patient). Every minting is logged (patient_ref and client id). Patients sign in themselves
    through /patient/authorize (docs/patient-sign-in.md)."""
    if not allows(grant.scopes, "PatientToken", Action.WRITE):
        raise ForbiddenError("scope system/PatientToken.write required")
    tokens = _patient_tokens(svc)
    ref = tokens.patient_ref(body.identifier.system, body.identifier.value)
    if not signin_of(request).holds(ref):
        raise NotFoundError("this hospital holds no patient with that identifier")
    issued = tokens.issue(ref, svc.clock())
    log.info(
        "patient token minted",
        extra={"event": "patient_token.minted", "patient_ref": ref, "client_id": grant.client_id},
    )
    return {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
        "patient_ref": issued.patient_ref,
    }


@router.get("/audit", **_audit_doc())
async def audit(
    svc: ServicesDep,
    patient: PatientDep,
    fmt: Annotated[str | None, Query(alias="_format")] = None,
) -> Response:
    """Every recorded access to the patient's data across the consortium, each entry with its
    inclusion proof against the final checkpoint (or ``pending``); ``_format=fhir``: a Bundle of
    AuditEvents."""
    if svc.ledger is None:
        raise UnavailableError("this gateway runs no ledger node")
    final = None if svc.checkpointer is None else svc.checkpointer.final()
    log = await run_in_threadpool(patient_audit, svc.ledger.store, patient, final)
    if fmt is not None and fmt in FHIR_FORMATS:
        return JSONResponse(audit_bundle(log), media_type=FHIR_JSON)
    return JSONResponse(await run_in_threadpool(describe, svc.ledger.store, log.to_json()))


def _static(name: str) -> Response:
    data = resources.files("gateway").joinpath("static", name).read_bytes()
    return Response(data, media_type=_PORTAL_FILES[name], headers=_STATIC_HEADERS)


_STATIC_HEADERS = {
    # The page handles a bearer token: no framing, no third-party script, no referrer leaks.
    # No inline script or style at all: every script and the stylesheet are files of this origin.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@portal_router.get("/portal", include_in_schema=False)
def portal() -> Response:
    return _static("portal.html")


@portal_router.get("/portal/{name}.js", include_in_schema=False)
def portal_script(name: str) -> Response:
    """The portal's scripts: portal.js (the page), merkle.js (RFC 9162 proof checks) and
    history.js (the checkpoint this browser saw last); 404 for any other name."""
    if f"{name}.js" not in _PORTAL_FILES:
        raise NotFoundError("no such portal file")
    return _static(f"{name}.js")


@portal_router.get("/portal/portal.css", include_in_schema=False)
def portal_style() -> Response:
    """The portal's stylesheet (a file: the CSP admits no inline style)."""
    return _static("portal.css")
