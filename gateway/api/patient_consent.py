"""Routes: the patient grants, lists and revokes consents, and lists the members to grant to.

Reads need the patient's session (patient token); writes need its write scope and pass the CSRF
checks of gateway.api.patient_session. A grant or revoke returns once this gateway's ledger node
has committed the ``consent.grant`` / ``consent.revoke`` (gateway.services.consent_sync), so the
next query anywhere in this member already sees it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from gateway.api import patient_schemas as schemas
from gateway.api.contract import Scheme, secured
from gateway.api.deps import ServicesDep
from gateway.api.exchange import ExchangeDep
from gateway.api.patient_session import SessionDep, WriterDep
from gateway.identity.pseudonym import ledger_id
from gateway.services import vocabulary as words
from gateway.services.exchange import Exchange
from gateway.services.patient_consent import ConsentForm, PatientConsents
from ledger.state import active_members

router = APIRouter(prefix="/patient", tags=["patient"])
CONSENT_ID = r"^c-[0-9a-f]{40}$"


def consents_of(exchange: ExchangeDep) -> PatientConsents:
    return PatientConsents(
        exchange.fhir,
        exchange.ledger.store,
        exchange.patients.local_ids,
        partial(ledger_id, exchange.patient_key, exchange.settings.org, "Consent"),
        exchange.settings.org,
    )


ConsentsDep = Annotated[PatientConsents, Depends(consents_of)]


def _members(exchange: Exchange) -> list[dict[str, str]]:
    own = exchange.settings.org
    found = active_members(exchange.ledger.store)
    return [{"org": m.org, "name": m.name, "role": m.role} for m in found if m.org != own]


@router.get("/members", **secured(Scheme.PATIENT, errors=(403, 503), ok=schemas.MemberList))
async def members(exchange: ExchangeDep, _: SessionDep) -> dict[str, Any]:
    """The members a patient may grant a consent to (by name), and the words for purposes and
    resource kinds the portal's consent form offers."""
    found = await run_in_threadpool(_members, exchange)
    kinds = {k: v for k, v in words.RESOURCE_KINDS.items() if k != "*"}
    return {"members": found, "purposes": words.PURPOSES, "resource_kinds": kinds}


@router.get("/consents", **secured(Scheme.PATIENT, errors=(403, 503), ok=schemas.ConsentList))
async def consents(svc: ServicesDep, session: SessionDep, found: ConsentsDep) -> dict[str, Any]:
    """The patient's consents on the ledger (at every custodian), newest first, in words;
    ``revocable`` marks those written at this hospital that are still active."""
    rows = await run_in_threadpool(found.listing, session.patient_ref, svc.clock() * 1000)
    return {"consents": rows}


def _grant_doc() -> dict[str, Any]:
    args = secured(Scheme.PATIENT, errors=(400, 403, 404, 503))
    args["responses"][201] = {"model": schemas.ConsentGranted}
    args["response_model"] = None
    return args


@router.post("/consents", status_code=201, **_grant_doc())
async def grant(
    svc: ServicesDep, writer: WriterDep, found: ConsentsDep, body: schemas.ConsentGrantRequest
) -> JSONResponse:
    """Grant a consent: a FHIR Consent at this hospital (opt-in permit for one member, the
    purposes, resource types and period), recorded on the ledger as ``consent.grant``. Needs
    scope ``patient/Consent.write`` and the ``X-Medgate-CSRF: 1`` header."""
    form = ConsentForm(
        body.grantee, tuple(body.purposes), tuple(body.resource_types), body.start, body.end
    )
    today = datetime.fromtimestamp(svc.clock(), tz=UTC).date()
    consent_id = await run_in_threadpool(found.grant, writer.patient_ref, form, today)
    return JSONResponse({"consent_id": consent_id, "status": "active"}, status_code=201)


@router.post(
    "/consents/{consent_id}/revoke",
    **secured(Scheme.PATIENT, errors=(403, 404, 503), ok=schemas.Done),
)
async def revoke(
    writer: WriterDep,
    found: ConsentsDep,
    consent_id: Annotated[str, Path(pattern=CONSENT_ID)],
) -> dict[str, Any]:
    """Revoke one of the patient's consents written at this hospital: the Consent becomes
    ``inactive`` and the ledger records ``consent.revoke``. Needs scope ``patient/Consent.write``
    and the ``X-Medgate-CSRF: 1`` header."""
    await run_in_threadpool(found.revoke, writer.patient_ref, consent_id)
    return {"ok": True}
