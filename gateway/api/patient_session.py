"""The patient's session on state-changing routes: a verified patient token with the write scope,
and the request's protection against cross-site request forgery.

CSRF design. The portal keeps the patient's token in page memory (sessionStorage at most) and
sends it in the ``Authorization`` header; no cookie is ever set, so a browser never attaches the
credential to a request another site makes, which is what CSRF rides on. Two checks on top, so that
a later change (a cookie session) cannot silently open the hole:

- a custom header, ``X-Medgate-CSRF: 1``: a cross-site page can send it only through CORS, whose
  preflight this gateway never grants (no CORS middleware), and an HTML form cannot send it;
- ``Origin``, when the browser sends one (every browser does on POST), must be this gateway's own
  origin (its ``public_url``, or the origin the request was addressed to).

Non-browser clients send no Origin and pass with the header and a token.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Header, Request

from gateway.api.deps import BearerDep, ServicesDep
from gateway.errors import ForbiddenError, UnavailableError
from gateway.services.patient_tokens import PatientGrant

CSRF_HEADER = "X-Medgate-CSRF"

PatientSession = PatientGrant
"""A verified patient token: its patient, scope and app (gateway.services.patient_tokens)."""


async def patient_session(svc: ServicesDep, token: BearerDep) -> PatientGrant:
    """The patient token's grant, when it may at least read the patient's own records."""
    if svc.patient_tokens is None:
        raise UnavailableError("this gateway issues no patient tokens")
    grant = svc.patient_tokens.check_grant(token, svc.clock())
    if not (grant.allows("AuditEvent", "read") or grant.allows("Consent", "read")):
        raise ForbiddenError("scope patient/*.read required")
    return grant


SessionDep = Annotated[PatientGrant, Depends(patient_session)]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def same_site(
    request: Request,
    svc: ServicesDep,
    csrf: Annotated[
        str | None,
        Header(alias=CSRF_HEADER, description="must be `1` (CSRF protection; docs/consent.md)"),
    ] = None,
) -> None:
    """403 unless the request carries the CSRF header and, when it says, comes from our origin."""
    if csrf != "1":
        raise ForbiddenError(f"the {CSRF_HEADER}: 1 header is required")
    origin = request.headers.get("origin")
    if origin is None:
        return
    allowed = {_origin(svc.settings.public_url), _origin(str(request.base_url))}
    if origin.lower() not in allowed:
        raise ForbiddenError("cross-origin request refused")


async def patient_writer(
    session: SessionDep, _: Annotated[None, Depends(same_site)]
) -> PatientSession:
    """A patient session allowed to change its own consents and notifications."""
    if not session.allows("Consent", "write"):
        raise ForbiddenError("scope patient/Consent.write required")
    return session


WriterDep = Annotated[PatientSession, Depends(patient_writer)]
