"""Peer exchange routes (peer assertion required): query, deliver, whoami; and the exchange's
lifespan, which builds this member's Exchange when the app starts and closes it at shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response
from starlette.routing import Route

from gateway.api import schemas
from gateway.api.contract import Scheme, secured
from gateway.api.deps import PeerDep, Services, ensure_releasable, json_body, peer_of
from gateway.identity.pseudonym import LEDGER_CONSENT_ID
from gateway.peers.errors import ACCESS_TX_HEADER, OBLIGATIONS_HEADER
from gateway.services.exchange import Exchange, open_exchange, unavailable
from gateway.services.inbox import accept_delivery
from gateway.services.obligations import header_value
from gateway.services.release import Ask, Custodian

JOSE_JSON = "application/jose+json"
RESOURCE_TYPE = r"^[A-Z][A-Za-z]{0,63}$"
CODE = r"^[A-Za-z0-9._:-]{1,64}$"
IDENT = r"^[A-Za-z0-9._:-]{1,128}$"
MAX_SAFE_INTEGER = 2**53 - 1
MAX_ENVELOPE_BYTES = 64 * 1024 * 1024


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    svc = app.state.services
    assert isinstance(svc, Services)  # noqa: S101 - set by create_app before startup
    exchange = open_exchange(
        svc.settings,
        svc.ledger,
        svc.fhir,
        svc.directory,
        guard=lambda: ensure_releasable(svc),
        metrics=svc.metrics,
    )
    app.state.exchange = exchange
    try:
        yield
    finally:
        if exchange is not None:
            await exchange.close()


router = APIRouter(prefix="/exchange", tags=["exchange"], lifespan=lifespan)


def exchange_for(request: Request) -> Exchange:
    """This member's Exchange; UnavailableError when the app runs without one."""
    found = getattr(request.app.state, "exchange", None)
    if not isinstance(found, Exchange):
        raise unavailable()
    return found


async def exchange_of(request: Request) -> Exchange:
    """This member's Exchange, its cache versions refreshed for this request."""
    # async: FastAPI runs a sync dependency in the thread pool, a hop per request for a lookup.
    found = exchange_for(request)
    await found.versions.refresh()
    return found


ExchangeDep = Annotated[Exchange, Depends(exchange_of)]


class AskBody(BaseModel):
    """``POST /exchange/query``: the patient by patient_ref only (no identifier travels)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patient_ref: str = Field(pattern=r"^[A-Za-z0-9_-]{43}$")
    resource_types: list[Annotated[str, Field(pattern=RESOURCE_TYPE)]] = Field(
        min_length=1, max_length=64
    )
    purpose: str = Field(pattern=CODE)
    break_glass: bool = False
    # A ledger consent id only: the ledger never records a string a requester's EHR chose.
    consent_ref: str | None = Field(None, pattern=LEDGER_CONSENT_ID)
    break_glass_started: int | None = Field(None, ge=0, le=MAX_SAFE_INTEGER)


@router.get("/whoami", **secured(Scheme.PEER, errors=(503,), ok=schemas.Whoami))
def whoami(peer: PeerDep) -> dict[str, str | None]:
    """The verified identity behind the request's peer assertion."""
    return {
        "org": peer.org,
        "purpose_of_use": peer.purpose,
        "consent_reference": peer.consent_ref,
        "jti": peer.jti,
    }


async def query(request: Request) -> Response:
    """``POST /exchange/query``: decide, record (ordering-acknowledged), then answer the sealed
    envelope; 403 if denied. A plain Starlette endpoint (see ``deps``): peer, then body."""
    ex = exchange_for(request)
    # Before the peer check: the member registry it reads is cached at these versions.
    await ex.versions.refresh()
    peer = await peer_of(request)
    body = json_body(AskBody, await request.body(), request.headers.get("content-type"))
    ask = Ask(
        body.patient_ref,
        tuple(dict.fromkeys(body.resource_types)),
        body.purpose,
        body.break_glass,
        body.consent_ref,
        body.break_glass_started,
    )
    released = await Custodian(ex).query(peer, ask)
    headers = {
        ACCESS_TX_HEADER: released.access_tx,
        OBLIGATIONS_HEADER: header_value(released.obligations),
    }
    return Response(released.envelope, headers=headers, media_type=JOSE_JSON)


@router.post(
    "/deliver",
    **secured(
        Scheme.PEER,
        errors=(403, 429, 503),
        ok=schemas.Stored,
        body={JOSE_JSON: {"type": "object", "description": "sealed envelope (JWE JSON)"}},
    ),
)
async def deliver(request: Request, ex: ExchangeDep, peer: PeerDep) -> JSONResponse:
    """Store what a peer delivers, sealed for this member and signed by the caller."""
    stored = await accept_delivery(ex, peer, await request.body())
    return JSONResponse(
        {"stored": list(stored.references), "envelope_digest": stored.envelope_digest}
    )


fast_routes = [Route("/exchange/query", query, methods=["POST"])]
"""Registered by the app ahead of the routers: the custodian's side of every query."""
