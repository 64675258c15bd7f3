"""Routes: requests this member's own clients send out to other members (query, deliver).

The client authenticates with a SMART access token: a query needs a read scope covering every
type it asks for, a delivery a write scope covering every type it pushes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response
from starlette.routing import Route

from gateway.api import schemas
from gateway.api.contract import Scheme, secured
from gateway.api.deps import GrantDep, grant_of, json_body
from gateway.api.exchange import (
    CODE,
    MAX_SAFE_INTEGER,
    RESOURCE_TYPE,
    ExchangeDep,
    exchange_for,
)
from gateway.auth.scopes import Action, allows
from gateway.auth.smart import AccessGrant
from gateway.errors import FHIR_JSON, ForbiddenError
from gateway.identity.pseudonym import LEDGER_CONSENT_ID
from gateway.peers.errors import ACCESS_TX_HEADER, OBLIGATIONS_HEADER
from gateway.services import outbound

router = APIRouter(prefix="/outbound", tags=["outbound"])

ORG = r"^[a-z0-9][a-z0-9-]{0,62}$"


class PatientIdentifier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str = Field(min_length=1, max_length=256)
    value: str = Field(min_length=1, max_length=256)


class QueryBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    custodian: str = Field(pattern=ORG)
    patient: PatientIdentifier
    purpose: str = Field(pattern=CODE)
    resource_types: list[Annotated[str, Field(pattern=RESOURCE_TYPE)]] = Field(
        min_length=1, max_length=64
    )
    break_glass: bool = False
    # A ledger consent id only: the ledger never records a string a requester's EHR chose.
    consent_ref: str | None = Field(None, pattern=LEDGER_CONSENT_ID)
    break_glass_started: int | None = Field(None, ge=0, le=MAX_SAFE_INTEGER)


class DeliverBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    recipients: list[Annotated[str, Field(pattern=ORG)]] = Field(min_length=1, max_length=64)
    purpose: str = Field(pattern=CODE)
    patient: PatientIdentifier
    bundle: dict[str, Any]


def _require(grant: AccessGrant, types: list[str], action: Action) -> None:
    for rtype in types:
        if not allows(grant.scopes, rtype, action):
            raise ForbiddenError(f"scope system/{rtype}.{action.value} required")


async def query(request: Request) -> Response:
    """``POST /outbound/query``: the custodian's released records as a plain searchset Bundle,
    or its refusal relayed. A plain Starlette endpoint (see ``deps``): token, then body."""
    grant = grant_of(request)
    ex = exchange_for(request)
    body = json_body(QueryBody, await request.body(), request.headers.get("content-type"))
    types = list(dict.fromkeys(body.resource_types))
    _require(grant, types, Action.READ)
    result = await outbound.query(
        ex,
        custodian=body.custodian,
        system=body.patient.system,
        value=body.patient.value,
        purpose=body.purpose,
        resource_types=types,
        break_glass=body.break_glass,
        consent_ref=body.consent_ref,
        break_glass_started=body.break_glass_started,
    )
    headers = {ACCESS_TX_HEADER: result.access_tx, OBLIGATIONS_HEADER: result.obligations}
    return Response(result.bundle, headers=headers, media_type=FHIR_JSON)


fast_routes = [Route("/outbound/query", query, methods=["POST"])]
"""Registered by the app ahead of the routers: every query this member's clients send out."""


@router.post(
    "/deliver",
    **secured(Scheme.SMART, errors=(403, 422, 503), ok=schemas.Delivered),
)
async def deliver(body: DeliverBody, grant: GrantDep, ex: ExchangeDep) -> dict[str, Any]:
    """Seal the Bundle for each recipient the policy allows, record, deliver; per-recipient status."""
    bundle = await run_in_threadpool(outbound.validated_bundle, body.bundle)
    _require(grant, sorted(outbound.entry_types(bundle)), Action.WRITE)
    done = await outbound.deliver(
        ex,
        recipients=list(dict.fromkeys(body.recipients)),
        purpose=body.purpose,
        system=body.patient.system,
        value=body.patient.value,
        bundle=bundle,
    )
    return {"delivered": [{"org": d.org, "status": d.status, "tx_id": d.tx_id} for d in done]}
