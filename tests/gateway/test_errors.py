"""Errors render as OperationOutcome with the right status; unexpected ones never leak a trace."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from gateway.errors import (
    AuthError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    GatewayError,
    InvalidResourceError,
    Issue,
    NotFoundError,
    RateLimitedError,
    TooLargeError,
    UnavailableError,
    UnsupportedMediaError,
    error_response,
)
from gateway.settings import Settings
from ledger.errors import OrderingError
from tests.gateway.member import ManualClock
from tests.gateway.serve import serve


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (BadRequestError("x"), 400),
        (AuthError("x"), 401),
        (ForbiddenError("x"), 403),
        (NotFoundError("x"), 404),
        (ConflictError("x"), 409),
        (TooLargeError(10), 413),
        (UnsupportedMediaError("text/plain"), 415),
        (InvalidResourceError("x", issues=[Issue("structure", "bad", "name.0")]), 422),
        (RateLimitedError("x"), 429),
        (UnavailableError("x"), 503),
    ],
)
def test_each_error_has_its_status(error: GatewayError, status: int) -> None:
    response = error_response(error)
    assert response.status_code == status
    assert response.media_type == "application/fhir+json"
    body = orjson.loads(bytes(response.body))
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == error.code
    assert len(body["issue"]) == 1 + len(error.issues)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    app = create_app(settings, clock=ManualClock())

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    @app.get("/unordered")
    def unordered() -> None:
        raise OrderingError("submit tx-1: gave up after 9 attempts: nats: timeout")

    @app.get("/typed")
    def typed(n: int) -> dict[str, int]:
        return {"n": n}

    return app


@pytest.fixture
def http(app: FastAPI) -> Iterator[httpx.Client]:
    with serve(app) as base, httpx.Client(base_url=base) as client:
        yield client


def test_unexpected_error_is_500_without_trace(http: httpx.Client) -> None:
    response = http.get("/boom")
    assert response.status_code == 500
    assert response.json()["resourceType"] == "OperationOutcome"
    assert b"secret internals" not in response.content
    assert b"Traceback" not in response.content


def test_an_entry_the_ordering_service_never_acknowledged_is_503(http: httpx.Client) -> None:
    """Every server unreachable past the submit deadline: nothing was released, retry later
    (it was a 500 "internal error" before; found by tests/multihost)."""
    response = http.get("/unordered")
    assert response.status_code == 503
    issue = response.json()["issue"][0]
    assert (issue["code"], response.json()["resourceType"]) == ("transient", "OperationOutcome")
    assert "nothing was released" in issue["diagnostics"]
    assert b"nats" not in response.content


def test_request_validation_and_unknown_routes(http: httpx.Client) -> None:
    invalid = http.get("/typed?n=abc")
    assert invalid.status_code == 400
    assert invalid.json()["resourceType"] == "OperationOutcome"
    missing = http.get("/no/such/route")
    assert missing.status_code == 404
    assert missing.json()["issue"][0]["code"] == "not-found"
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").status_code == 200
