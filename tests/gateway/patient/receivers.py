"""Real receivers for notification tests: an SMTP server (aiosmtpd) and a webhook (aiohttp), each
on a free loopback port in its own thread, recording what arrived."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.ports import free_ports


@dataclass
class Mailbox:
    messages: list[tuple[list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(content)))
        return "250 OK"


def free_port() -> int:
    """A loopback port free now (aiosmtpd's controller cannot be given port 0)."""
    return free_ports(1)[0]


@contextmanager
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


@dataclass
class Hook:
    """Answers ``fail_first`` requests with 503, then 204; keeps every JSON body."""

    fail_first: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(json.loads(await request.read()))
        if len(self.bodies) <= self.fail_first:
            return web.Response(status=503)
        return web.Response(status=204)


@contextmanager
def webhook(fail_first: int = 0) -> Iterator[tuple[str, Hook]]:
    hook = Hook(fail_first)
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/hook", hook
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.run_until_complete(runner.cleanup())
        loop.close()
