"""Routes: the patient's notifications (break-glass and notify-patient accesses) and marking one
read; the router's lifespan runs the forwarder (e-mail, webhook) while the app runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.concurrency import run_in_threadpool

from gateway.api import patient_schemas as schemas
from gateway.api.contract import Scheme, secured
from gateway.api.deps import ServicesDep
from gateway.api.patient_session import SessionDep, WriterDep
from gateway.errors import NotFoundError, UnavailableError
from gateway.services import vocabulary as words
from gateway.services.notices import Notices

TX_ID = r"^[0-9a-f]{64}$"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    notices = getattr(app.state, "notices", None)
    if not isinstance(notices, Notices):
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(notices.forwarder.run(notices.poll_seconds, stop))
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task


router = APIRouter(prefix="/patient", tags=["patient"], lifespan=lifespan)


async def notices_of(request: Request) -> Notices:
    found = getattr(request.app.state, "notices", None)
    if not isinstance(found, Notices):
        raise UnavailableError("this gateway keeps no patient notifications (no ledger)")
    return found


NoticesDep = Annotated[Notices, Depends(notices_of)]


@router.get(
    "/notifications", **secured(Scheme.PATIENT, errors=(403, 503), ok=schemas.NotificationList)
)
async def notifications(session: SessionDep, notices: NoticesDep) -> dict[str, Any]:
    """The patient's notifications, newest first: who accessed their records, when, why and how
    (break-glass or under the notify-patient obligation). No clinical data."""
    found = await run_in_threadpool(notices.table.for_patient, session.patient_ref)
    rows = [schemas.row_of(n.to_json(), words.purpose_words(n.purpose)) for n in found]
    return {"notifications": rows}


@router.post(
    "/notifications/{notification_id}/read",
    **secured(Scheme.PATIENT, errors=(403, 404, 503), ok=schemas.Done),
)
async def mark_read(
    svc: ServicesDep,
    writer: WriterDep,
    notices: NoticesDep,
    notification_id: Annotated[str, Path(pattern=TX_ID)],
) -> dict[str, Any]:
    """Mark one of the patient's notifications read (needs the ``X-Medgate-CSRF: 1`` header)."""
    now_ms = svc.clock() * 1000
    ok = await run_in_threadpool(
        notices.table.mark_read, writer.patient_ref, notification_id, now_ms
    )
    if not ok:
        raise NotFoundError("no such notification")
    return {"ok": True}
