"""The request log: one JSON line per HTTP request, and the one place an unhandled error is
logged (once) and answered (500 OperationOutcome, no stack trace to the client).

A line carries the method, the route *template* (never the path: paths hold resource ids and
identifiers), the status, the latency, this member and a request id echoed in ``X-Request-Id``.
Never a query string, a header (tokens), or a body.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import FHIR_JSON, outcome_body

log = logging.getLogger("medgate.request")
UNMATCHED = "<unmatched>"
REQUEST_ID = b"x-request-id"


class RequestLog:
    """Pure ASGI middleware; install it outermost so it times and sees every answer."""

    def __init__(self, app: ASGIApp, member: str) -> None:
        self.app = app
        self.member = member
        self._paths: dict[Any, str] | None = None  # endpoint -> path template, built once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Generated here, never taken from the client: a caller-chosen id could carry anything.
        request_id = secrets.token_hex(8)
        started = time.perf_counter()
        status = 0

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [*message.get("headers", []), (REQUEST_ID, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        except Exception as exc:  # the last line of defence: log once, answer 500
            fields = self._fields(scope, 500, started, request_id)
            log.error("unhandled error", exc_info=exc, extra=fields)
            if status == 0:
                await _internal_error(send_logged)
            return
        log.info("request", extra=self._fields(scope, status, started, request_id))

    def _template(self, scope: Scope) -> str:
        """The matched route's path template (``/fhir/{resource_type}/{resource_id}``), or
        ``<unmatched>``: never the path itself."""
        route = scope.get("route")
        if isinstance(route, BaseRoute) and hasattr(route, "path"):
            return str(route.path)
        # Plain Starlette routes (the exchange's fast ones) record only their endpoint.
        if self._paths is None:
            routes = getattr(scope.get("app"), "routes", [])
            self._paths = {r.endpoint: r.path for r in routes if isinstance(r, Route)}
        return self._paths.get(scope.get("endpoint"), UNMATCHED)

    def _fields(
        self, scope: Scope, status: int, started: float, request_id: str
    ) -> dict[str, object]:
        return {
            "method": scope["method"],
            "route": self._template(scope),
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "member": self.member,
            "request_id": request_id,
        }


async def _internal_error(send: Send) -> None:
    body = outcome_body("exception", "internal error")
    headers = [(b"content-type", FHIR_JSON.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
