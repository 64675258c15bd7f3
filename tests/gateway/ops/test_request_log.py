"""The request log over a real socket: one JSON line per request with the route template, and an
unhandled error logged exactly once (the server used to log it a second time) and answered 500."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from gateway.auth.peer import MemoryDirectory
from gateway.services.jsonlog import JsonFormatter
from gateway.settings import Settings
from tests.gateway.conftest import fetch_token
from tests.gateway.member import ManualClock, Member
from tests.gateway.serve import serve

SECRET_MRN = "MRN-LOG-7731"


class Boom(RuntimeError):
    pass


def _app(settings: Settings, clock: ManualClock) -> FastAPI:
    app = create_app(settings, directory=MemoryDirectory(), clock=clock)

    async def boom() -> None:
        raise Boom(f"failed on {SECRET_MRN}")  # a message that would leak if it were logged

    app.add_api_route("/boom/{patient}", boom)
    return app


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records]


def test_one_line_per_request_with_template_status_member_and_request_id(
    settings: Settings, member: Member, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with serve(_app(settings, clock)) as url, httpx.Client(base_url=url) as http:
        caplog.clear()  # serve's own warm-up request is not this test's
        token = fetch_token(http, member, clock.now)
        found = http.get(
            f"/fhir/Patient?identifier=urn:x|{SECRET_MRN}",
            headers={"Authorization": f"Bearer {token}"},
        )
        missing = http.get(f"/nowhere/{SECRET_MRN}")
    requests = [line for line in _lines(caplog) if line["logger"] == "medgate.request"]
    assert [(r["method"], r["route"], r["status"]) for r in requests] == [
        ("POST", "/auth/token", 200),
        ("GET", "/fhir/{resource_type}", found.status_code),
        ("GET", "<unmatched>", 404),
    ]
    assert {r["member"] for r in requests} == {settings.org}
    assert requests[2]["request_id"] == missing.headers["x-request-id"]
    assert all(isinstance(r["latency_ms"], float) for r in requests)
    # Every line the gateway wrote (httpx's own lines are the test client's, not the gateway's).
    text = "".join(json.dumps(line) for line in _lines(caplog) if line["logger"] != "httpx")
    assert SECRET_MRN not in text
    assert token not in text


def test_an_unhandled_error_is_logged_once_without_its_message(
    settings: Settings,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    with serve(_app(settings, clock)) as url, httpx.Client(base_url=url) as http:
        # As `medgate serve` routes uvicorn's loggers (jsonlog.configure_logging): to the root.
        monkeypatch.setattr(logging.getLogger("uvicorn"), "propagate", True)
        answer = http.get(f"/boom/{SECRET_MRN}")
    assert answer.status_code == 500
    assert answer.json()["issue"][0]["diagnostics"] == "internal error"
    errors = [line for line in _lines(caplog) if line["level"] == "error"]
    assert len(errors) == 1, errors
    assert errors[0]["route"] == "/boom/{patient}"
    assert errors[0]["exception"]["type"] == "Boom"  # type: ignore[index]
    assert SECRET_MRN not in json.dumps(errors)
