"""Pure ASGI middleware that refuses request bodies over the limit before they are read whole.

A declared Content-Length over the limit is answered 413 at once, without reading any body. A body
without one (chunked) is counted as it streams: the chunk that crosses the limit raises
TooLargeError inside the app's receive, so the route stops reading and the handler answers 413.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import BadRequestError, GatewayError, TooLargeError, error_response


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_declared(scope)
        except GatewayError as exc:
            await error_response(exc)(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise TooLargeError(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except TooLargeError as exc:
            # Reached only if no handler inside rendered it (e.g. read by a middleware).
            if started:
                raise
            await error_response(exc)(scope, receive, send)

    def _check_declared(self, scope: Scope) -> None:
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    raise BadRequestError("invalid Content-Length")
                if int(value) > self.max_bytes:
                    raise TooLargeError(self.max_bytes)
