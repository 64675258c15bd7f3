"""Routes: patient sign-in (SMART App Launch standalone, authorization code + PKCE).

GET  /patient/authorize              the sign-in page (validates the authorization request)
POST /patient/authorize/invitation   an invitation code; 303 to the app with code + state
POST /patient/authorize/oidc         off to the hospital's IdP (OIDC authenticator)
GET  /patient/oidc/callback          back from the IdP; 303 to the app with code + state
POST /patient/oauth/token            authorization_code and refresh_token grants (also /auth/token)
POST /patient/oauth/revoke           end a session by its refresh token (RFC 7009)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, RedirectResponse, Response

from gateway.api import patient_auth_docs as docs
from gateway.api.deps import Services, services_of
from gateway.auth.keys import load_p256_private
from gateway.errors import (
    NO_STORE,
    BadRequestError,
    GatewayError,
    NotFoundError,
    OAuthCode,
    OAuthError,
    UnavailableError,
)
from gateway.identity.pseudonym import load_patient_key
from gateway.patientauth import page
from gateway.patientauth.oidc import CALLBACK_PATH, COOKIE, STATE_SECONDS
from gateway.patientauth.requests import AuthorizeRefusal, validate
from gateway.patientauth.signin import PatientLookup, PatientSignIn, open_sign_in
from gateway.services.patients import PatientIndex
from ledger.ids import PatientRef

log = logging.getLogger("medgate.patient_auth")
FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16 * 1024


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    svc = app.state.services
    assert isinstance(svc, Services)  # noqa: S101 - set by create_app before startup
    if svc.patient_tokens is not None:
        exchange = getattr(app.state, "exchange", None)
        index: PatientLookup = getattr(exchange, "patients", None) or PatientIndex(
            svc.fhir.store, load_patient_key(svc.settings.keys.patient_key.read_bytes())
        )
        key = load_p256_private(svc.settings.keys.token_key)
        app.state.patient_signin = open_sign_in(
            svc.settings, svc.fhir.store.engine, index, svc.patient_tokens, key
        )
    yield


router = APIRouter(prefix="/patient", tags=["patient-auth"], lifespan=lifespan)


def signin_of(request: Request) -> PatientSignIn:
    found = getattr(request.app.state, "patient_signin", None)
    if not isinstance(found, PatientSignIn):
        raise UnavailableError("this gateway offers no patient sign-in")
    return found


def _query(request: Request) -> dict[str, str]:
    pairs = list(request.query_params.multi_items())
    params = dict(pairs)
    if len(params) != len(pairs):
        raise BadRequestError("a request parameter is repeated")
    return params


async def _form(request: Request, oauth: bool) -> dict[str, str]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    problem = None
    if media != FORM:
        problem = f"the body must be {FORM}"
    elif len(raw) > MAX_FORM_BYTES:
        problem = "the form is too large"
    pairs: list[tuple[str, str]] = []
    if problem is None:
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            problem = "the body is not a valid form"
    if problem is None and len(dict(pairs)) != len(pairs):
        problem = "a form parameter is repeated"
    if problem is not None:
        if oauth:
            raise OAuthError(OAuthCode.INVALID_REQUEST, problem)
        raise BadRequestError(problem)
    return dict(pairs)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _page_error(request: Request, exc: GatewayError) -> Response:
    """A browser gets the refusal as a page; any other client as an OperationOutcome."""
    if _wants_html(request):
        return page.refused(exc.diagnostics, exc.status)
    raise exc


@router.get("/authorize", **docs.AUTHORIZE_DOC)
def authorize(request: Request) -> Response:
    """SMART standalone launch: ``response_type=code``, ``client_id``, ``redirect_uri``,
    ``scope`` (patient/*.read, ...), ``state``, ``code_challenge`` (S256),
    ``code_challenge_method=S256``, optional ``aud`` (this gateway)."""
    signin = signin_of(request)
    now = services_of(request).clock()
    try:
        req = validate(_query(request), signin.server.clients, signin.audiences)
    except AuthorizeRefusal as refusal:
        return RedirectResponse(refusal.location, 302, headers=NO_STORE)
    except BadRequestError as exc:
        return _page_error(request, exc)
    handle = signin.handles.sign(req, now)
    return page.sign_in(signin.org, handle, signin.authenticators, signin.redirect_targets())


@router.post(
    "/authorize/invitation", **docs.form_doc(docs.INVITATION_FORM, 400, 401, 415, 429, 503)
)
async def invitation(request: Request) -> Response:
    """Sign in with an invitation code (single use; wrong attempts are limited per client
    address and per code: 429 with Retry-After once locked out)."""
    signin = signin_of(request)
    now = services_of(request).clock()
    address = request.client.host if request.client else "unknown"
    try:
        form = await _form(request, oauth=False)
        handle = form.get("request", "")
        req = signin.handles.read(handle, now)
    except GatewayError as exc:
        return _page_error(request, exc)
    try:
        ref = await run_in_threadpool(signin.invitations.redeem, form.get("code", ""), address, now)
        if not await run_in_threadpool(signin.holds, ref):
            raise BadRequestError("this hospital holds no record of the invited patient")
        location = await run_in_threadpool(signin.server.issue_code, req, ref, now)
    except GatewayError as exc:
        if not _wants_html(request):
            raise
        # The page again, the problem on top: the patient may retype the code.
        return page.sign_in(
            signin.org,
            handle,
            signin.authenticators,
            signin.redirect_targets(),
            exc.diagnostics,
            exc.status,
            dict(exc.headers()),
        )
    return RedirectResponse(location, 303, headers=NO_STORE)


@router.post("/authorize/oidc", **docs.OIDC_START_DOC)
async def oidc_start(request: Request) -> Response:
    """Start the OIDC authenticator: ``request`` = the handle from the sign-in page."""
    signin = signin_of(request)
    if signin.oidc is None:
        raise NotFoundError("OIDC sign-in is not configured on this gateway")
    now = services_of(request).clock()
    # A form post, not a link: the request handle stays out of URLs (and histories, logs).
    handle = (await _form(request, oauth=False)).get("request", "")
    signin.handles.read(handle, now)
    login = await signin.oidc.start(handle, now)
    # 303: the browser follows with a GET to the IdP.
    response = RedirectResponse(login.url, 303, headers=NO_STORE)
    response.set_cookie(
        COOKIE,
        login.state,
        max_age=STATE_SECONDS,
        path=CALLBACK_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get(
    "/oidc/callback",
    **docs.OIDC_CALLBACK_DOC,
)
async def oidc_callback(request: Request) -> Response:
    """The IdP's redirect back (``code``, ``state``)."""
    signin = signin_of(request)
    if signin.oidc is None:
        raise NotFoundError("OIDC sign-in is not configured on this gateway")
    svc = services_of(request)
    now = svc.clock()
    params = request.query_params
    try:
        found = await signin.oidc.finish(
            params.get("code", ""), params.get("state", ""), request.cookies.get(COOKIE, ""), now
        )
        req = signin.handles.read(found.handle, now)
        ref = PatientRef(
            signin.tokens.patient_ref(signin.oidc.settings.identifier_system, found.value)
        )
        if not await run_in_threadpool(signin.holds, ref):
            raise BadRequestError("this hospital holds no record of the signed-in patient")
        location = await run_in_threadpool(signin.server.issue_code, req, ref, now)
    except GatewayError as exc:
        return _page_error(request, exc)
    response = RedirectResponse(location, 303, headers=NO_STORE)
    response.delete_cookie(COOKIE, path=CALLBACK_PATH)
    return response


@router.post(
    "/oauth/token",
    **docs.oauth_doc(
        docs.TOKEN_FORM, {"description": "a session's tokens", "model": docs.SessionToken}
    ),
)
async def token(request: Request) -> JSONResponse:
    """Code for tokens (with the PKCE verifier), or a refresh token for new ones."""
    return await token_response(request, await _form(request, oauth=True))


async def token_response(request: Request, form: dict[str, str]) -> JSONResponse:
    """The token answer for an authorization_code or refresh_token form (used by /auth/token)."""
    signin = signin_of(request)
    body = await run_in_threadpool(signin.server.token, form, services_of(request).clock())
    return JSONResponse(body, headers=NO_STORE)


@router.post("/oauth/revoke", **docs.oauth_doc(docs.REVOKE_FORM, docs.REVOKED))
async def revoke(request: Request) -> Response:
    """End the session a refresh token belongs to (RFC 7009: unknown tokens answer 200 too)."""
    signin = signin_of(request)
    form = await _form(request, oauth=True)
    await run_in_threadpool(signin.server.revoke, form)
    return JSONResponse({}, headers=NO_STORE)
