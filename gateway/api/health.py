"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from gateway.api.deps import ServicesDep
from gateway.errors import UnavailableError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process serves requests."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(svc: ServicesDep) -> dict[str, str]:
    """The store answers (503 OperationOutcome otherwise) and a member registry is wired."""
    await run_in_threadpool(svc.fhir.store.ping)
    if svc.ledger is not None and svc.ledger.failure is not None:
        raise UnavailableError("the ledger node stopped; see the gateway log")
    return {"status": "ready", "peers": "on" if svc.directory is not None else "off"}
