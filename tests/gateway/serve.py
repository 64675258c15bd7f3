"""Run an ASGI app under uvicorn on a free loopback port in a thread, for tests over real sockets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from starlette.types import ASGIApp

START_POLLS = 500  # x 10 ms: bounded wait for the server to start


@contextmanager
def serve(app: ASGIApp, port: int = 0) -> Iterator[str]:
    """Yield the base URL (http://127.0.0.1:<port>) of ``app`` served by uvicorn until exit, on
    ``port`` (0: a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(START_POLLS):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.01)
        if not server.started:
            raise RuntimeError("uvicorn did not start")
        base_url = f"http://127.0.0.1:{port}"
        # FastAPI (0.165) builds a route's request state lazily on its first match, on routers
        # the apps of one process share: two apps matching for the first time at once were seen
        # to fail there (pydantic's UnsupportedFieldAttributeWarning, an error under pytest). A
        # path no route matches walks every route once, here, before the test sends anything.
        # Real replicas are separate processes; this only concerns tests serving several apps.
        httpx.get(f"{base_url}/.medgate-test-warm-up", timeout=30)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
