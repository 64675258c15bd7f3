"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from gateway.api import schemas
from gateway.api.contract import secured
from gateway.api.deps import ServicesDep
from gateway.errors import UnavailableError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=schemas.Health, **secured())
def healthz() -> dict[str, str]:
    """The process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", **secured(errors=(503,), ok=schemas.Ready))
async def readyz(svc: ServicesDep) -> dict[str, str | int]:
    """Ready to release data: the store answers, the ledger node and its checkpoint follower run,
    no checkpoint alarm is raised, the ledger view is within its staleness bound, and the store is not older than this member's last checkpoint. 503 OperationOutcome otherwise, naming which (ids and
    heights only), so a load balancer routes peers away while an operator resolves it."""
    await run_in_threadpool(svc.fhir.store.ping)
    if svc.ledger is not None and svc.ledger.failure is not None:
        raise UnavailableError("the ledger node stopped; see the gateway log")
    if svc.checkpoints is not None and svc.checkpoints.failure is not None:
        raise UnavailableError("the checkpoint follower stopped; see the gateway log")
    if svc.rollback is not None and svc.rollback.problem is not None:
        raise UnavailableError(
            f"{svc.rollback.problem}; releases are suspended until an operator clears it"
        )
    alarm = None if svc.checkpointer is None else svc.checkpointer.alarm
    if alarm is not None:
        found = alarm.describe()
        raise UnavailableError(
            f"ledger checkpoints disagree ({found['finding']} at height {found['height']}, "
            f"orgs {','.join(found['orgs'])}); releases are suspended until an operator clears it"
        )
    stale = None if svc.view is None else svc.view.stale_reason()
    if stale is not None:
        raise UnavailableError(f"{stale}; releases are suspended until it catches up")
    ready: dict[str, str | int] = {
        "status": "ready",
        "peers": "on" if svc.directory is not None else "off",
        "checkpoints": "on" if svc.checkpointer is not None else "off",
    }
    if svc.view is not None:
        ready["view_age_ms"] = round(svc.view.age_s() * 1000)
    return ready
