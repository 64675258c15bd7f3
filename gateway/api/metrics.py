"""Routes: Prometheus metrics; and the middleware counting requests by route template and status.

``/metrics`` is unauthenticated, as Prometheus scrapes are by convention: it carries counts, heights
and digests-free gauges only (no PHI, no patient refs, no request paths). Restrict it at the network
level (bind the scrape to an internal interface) where even the traffic volume is sensitive.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.contract import secured
from gateway.api.deps import Services, ServicesDep
from gateway.services.metrics import Metrics, Sample
from ledger.errors import LedgerError

router = APIRouter(prefix="", tags=["metrics"])
log = logging.getLogger("medgate.gateway.metrics")
EXPOSITION = "text/plain; version=0.0.4; charset=utf-8"
ORDERING_PROBE_S = 2.0
UNMATCHED = "<unmatched>"
"""The route label of requests no route matched: never the raw path (it may hold identifiers)."""


class RequestMetrics:
    """Pure ASGI middleware: one ``medgate_http_requests_total{route, method, status}`` per answer."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            labels = {"route": _template(scope), "method": scope["method"], "status": str(status)}
            self.metrics.inc("medgate_http_requests_total", labels)


def _template(scope: Scope) -> str:
    # The router records the matched route in the scope; a 404 has none.
    route = scope.get("route")
    if isinstance(route, BaseRoute) and hasattr(route, "path"):
        return str(route.path)
    return UNMATCHED


async def _ledger_gauges(svc: Services) -> list[Sample]:
    ledger = svc.ledger
    if ledger is None:
        return []
    up = 0 if ledger.failure is not None else 1
    out = [Sample("medgate_ledger_up", (), up)]
    if svc.view is not None:  # first: it must be exported when the ordering service is down
        out.append(Sample("medgate_ledger_view_age_seconds", (), round(svc.view.age_s(), 3)))
    try:
        head = await asyncio.to_thread(ledger.store.head)
        committed = await asyncio.to_thread(ledger.store.position)
        # Bounded: an unreachable ordering service must not hang the scrape (nats retries ~30 s).
        last = await asyncio.wait_for(ledger.ordering.last_position(), ORDERING_PROBE_S)
    except (LedgerError, TimeoutError) as exc:
        # A scrape must not fail because the store or the ordering service is down: up says so.
        log.warning("ledger gauges unavailable", extra={"error": str(exc)})
        return [*out[1:], Sample("medgate_ledger_up", (), 0)]
    if head is not None:
        out += [
            Sample("medgate_ledger_height", (), head.height),
            Sample("medgate_ledger_tree_size", (), head.tree_size),
        ]
    out.append(Sample("medgate_ordering_lag", (), max(0, last - committed)))
    out.append(Sample("medgate_ledger_validator_faults_total", (), ledger.validator_faults))
    return out


def _checkpoint_gauges(svc: Services) -> list[Sample]:
    rollback = svc.rollback
    out = (
        []
        if rollback is None
        else [Sample("medgate_ledger_rollback_alarm", (), 0 if rollback.problem is None else 1)]
    )
    cp = svc.checkpointer
    if cp is None:
        return out
    m = cp.metrics
    out += [
        Sample("medgate_checkpoint_final_height", (), m.final_height),
        Sample("medgate_checkpoint_mismatches_total", (), m.checkpoint_mismatches),
        Sample("medgate_checkpoint_alarm", (), 0 if cp.alarm is None else 1),
        Sample("medgate_checkpoints_published_total", (), m.published),
        Sample("medgate_checkpoints_verified_total", (), m.checkpoints_verified),
    ]
    out += [
        Sample("medgate_checkpoints_rejected_total", (("reason", str(reason)),), count)
        for reason, count in m.rejected.items()
    ]
    return out


def _doc() -> dict[str, Any]:
    args = secured()
    args["responses"][200] = {"content": {EXPOSITION: {"schema": {"type": "string"}}}}
    return args


@router.get("/metrics", response_class=PlainTextResponse, **_doc())
async def metrics(svc: ServicesDep) -> PlainTextResponse:
    """Every counter, plus gauges sampled now from the ledger node and the checkpointer."""
    gauges = await _ledger_gauges(svc) + _checkpoint_gauges(svc)
    return PlainTextResponse(svc.metrics.render(gauges), media_type=EXPOSITION)
