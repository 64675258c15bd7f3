"""Bounded staleness with real parts: a gateway on a real NATS cluster refuses to release once it
cannot confirm, for longer than the bound, that it holds the whole ledger (servers stopped), says so
in /readyz and the metric, and serves again once the cluster is back. An idle consortium is not
stale. The bound is measured on a clock the test drives; no wall-clock time is asserted."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from gateway.fileperms import private_files
from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.runtime import open_gateway
from gateway.settings import Settings
from tests.e2e import records
from tests.e2e.gateways import Gateway, _use_nats
from tests.support.nats_cluster import NatsCluster, free_port

MEMBERS = [MemberSpec("hospital-a", "hospital"), MemberSpec("hospital-b", "hospital")]
BOUND_S = 5.0  # the default of ordering.max_view_age_s
POLL_S = 0.1
HEAL_TIMEOUT_S = 90.0


class DrivenClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def serve_gateway(settings: Settings, clock: Callable[[], float]) -> Iterator[str]:
    """The member's whole gateway (open_gateway) under uvicorn, on one event loop in a thread:
    the NATS connections are bound to the loop that opened them."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", settings.server.port))  # the public_url's: tokens' aud names it
    port = settings.server.port
    holder: dict[str, Any] = {}

    async def main() -> None:
        app = await open_gateway(settings, cut_after=0.02, monotonic=clock)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        holder["server"] = server
        await server.serve(sockets=[sock])

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    try:
        for _ in range(3000):  # x 10 ms
            server = holder.get("server")
            if (server is not None and server.started) or not thread.is_alive():
                break
            time.sleep(0.01)
        assert holder.get("server") is not None, "gateway did not start"
        assert holder["server"].started, "gateway did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        if "server" in holder:
            holder["server"].should_exit = True
        thread.join(timeout=30)
        sock.close()


def until(probe: Callable[[], bool], what: str, timeout: float = HEAL_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(POLL_S)


def deliver(gateway: Gateway) -> httpx.Response:
    """A release: hospital-a pushes a record to hospital-b (not running: 'unavailable' when sent)."""
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {**records.patient("NID-stale", "Okonkwo", "Ada"), "id": "p1"}}],
    }
    body = {
        "recipients": ["hospital-b"],
        "purpose": "TREAT",
        "patient": {"system": records.NATIONAL_ID, "value": "NID-stale"},
        "bundle": bundle,
    }
    return gateway.http.post("/outbound/deliver", json=body, headers=gateway.auth())


def _member(root: Path, nats: list[str] | None) -> tuple[Settings, Path]:
    with private_files():
        created = create_consortium(root, "staleness", MEMBERS, ports=[free_port(), free_port()])
    config = created.members[0].config
    if nats is not None:
        _use_nats(config, nats)
    return Settings.load(config), config.parent


def _stale(answer: httpx.Response) -> str:
    assert answer.status_code == 503, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    diagnostics: str = outcome["issue"][0]["diagnostics"]
    assert "ledger view stale" in diagnostics
    return diagnostics


@pytest.mark.e2e
def test_a_cut_off_gateway_refuses_to_release_past_the_bound_and_serves_after_heal(
    tmp_path: Path,
) -> None:
    clock = DrivenClock()
    with NatsCluster(tmp_path / "nats") as cluster:
        settings, folder = _member(tmp_path / "c", cluster.client_urls)
        assert settings.ordering.max_view_age_s == BOUND_S
        with serve_gateway(settings, clock) as url:
            gateway = Gateway("hospital-a", "hospital", url, folder)
            ready = gateway.http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert deliver(gateway).json()["delivered"][0]["status"] == "unavailable"

            cluster.stop()  # the gateway loses every NATS server: it can confirm nothing more
            clock.advance(BOUND_S + 1)
            diagnostics = _stale(gateway.http.get("/readyz"))
            assert "ms ago (bound 5000 ms)" in diagnostics
            _stale(deliver(gateway))
            metrics = gateway.http.get("/metrics").text
            age = next(
                float(line.split()[1])
                for line in metrics.splitlines()
                if line.startswith("medgate_ledger_view_age_seconds ")
            )
            assert age > BOUND_S

            for i in range(3):  # heal
                cluster.start(i, wait=False)
            cluster.wait_ready()
            until(lambda: gateway.http.get("/readyz").status_code == 200, "ready after heal")
            answer = deliver(gateway)
            assert answer.status_code == 200, answer.text
            assert gateway.http.get("/readyz").json()["view_age_ms"] <= BOUND_S * 1000
            gateway.http.close()


def test_an_idle_consortium_is_not_stale(tmp_path: Path) -> None:
    """No block for longer than the bound is not staleness: the probe confirms the idle log."""
    clock = DrivenClock()
    settings, folder = _member(tmp_path, None)  # solo: the probe reads the log's tail
    with serve_gateway(settings, clock) as url:
        gateway = Gateway("hospital-a", "hospital", url, folder)
        assert gateway.http.get("/readyz").status_code == 200
        clock.advance(10 * BOUND_S)
        # Until a probe runs the view is as old as the clock says; the next probe confirms it.
        until(lambda: gateway.http.get("/readyz").status_code == 200, "idle view confirmed", 30)
        assert gateway.http.get("/readyz").json()["view_age_ms"] <= BOUND_S * 1000
        gateway.http.close()
