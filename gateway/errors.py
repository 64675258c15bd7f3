"""Errors of the gateway and the one place that turns them into FHIR OperationOutcome responses.

GatewayError                     root: raised on purpose (status, code, diagnostics)
 +-- BadRequestError             400 malformed request: bad parameter, not JSON, wrong resourceType
 +-- AuthError                   401 missing/invalid credentials (+ WWW-Authenticate challenge)
 +-- ForbiddenError              403 authenticated, but the scope or policy does not allow it
 +-- NotFoundError               404 no such resource or route
 +-- ConflictError               409 version conflict (If-Match) or duplicate
 +-- GoneError                   410 the thing asked for existed but is no longer usable (expired)
 +-- TooLargeError               413 body over the configured limit (limit)
 +-- UnsupportedMediaError       415 Content-Type is not FHIR JSON (media_type)
 +-- InvalidResourceError        422 the resource fails R4 validation (issues: location, kind)
 +-- RateLimitedError            429 too many requests from one peer
 +-- UnavailableError            503 a dependency (ledger view, store) is not ready
 +-- OAuthError                  400/401 a token request refused (RFC 6749 section 5.2 body, not
                                 an OperationOutcome: SMART client libraries parse that shape)
ConfigError                      settings refused at load (not HTTP: raised before any app exists)

Only this module knows HTTP statuses and the OperationOutcome shape; everything else raises the
typed errors. Diagnostics never echo request values: they may hold PHI.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ledger.errors import OrderingError

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome issue: FHIR issue code, diagnostics, optional FHIRPath location."""

    code: str
    diagnostics: str
    location: str | None = None


class ConfigError(Exception):
    """The member's configuration is missing, unreadable or unsafe (field, problem)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class GatewayError(Exception):
    """Root of the gateway's errors: an HTTP status and an OperationOutcome issue code."""

    status = 500
    code = "exception"

    def __init__(self, diagnostics: str, *, issues: Sequence[Issue] = ()) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.issues = tuple(issues)

    def headers(self) -> Mapping[str, str]:
        return {}


class BadRequestError(GatewayError):
    status, code = 400, "invalid"


class AuthError(GatewayError):
    status, code = 401, "login"

    def __init__(self, diagnostics: str, *, error: str = "invalid_token") -> None:
        super().__init__(diagnostics)
        self.error = error

    def headers(self) -> Mapping[str, str]:
        # RFC 6750 section 3: a 401 names the scheme and the OAuth error code.
        return {"WWW-Authenticate": f'Bearer realm="medgate", error="{self.error}"'}


class ForbiddenError(GatewayError):
    status, code = 403, "forbidden"


class NotFoundError(GatewayError):
    status, code = 404, "not-found"


class ConflictError(GatewayError):
    status, code = 409, "conflict"


class GoneError(GatewayError):
    status, code = 410, "expired"


class TooLargeError(GatewayError):
    status, code = 413, "too-costly"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds the limit of {limit} bytes")
        self.limit = limit


class UnsupportedMediaError(GatewayError):
    status, code = 415, "not-supported"

    def __init__(self, media_type: str) -> None:
        super().__init__("Content-Type must be application/fhir+json or application/json")
        self.media_type = media_type


class InvalidResourceError(GatewayError):
    status, code = 422, "processing"


class RateLimitedError(GatewayError):
    status, code = 429, "throttled"

    def __init__(self, diagnostics: str, *, retry_after: int | None = None) -> None:
        super().__init__(diagnostics)
        self.retry_after = retry_after

    def headers(self) -> Mapping[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class UnavailableError(GatewayError):
    status, code = 503, "transient"


class OAuthCode(enum.StrEnum):
    """RFC 6749 section 5.2 error codes of the token endpoint."""

    INVALID_REQUEST = "invalid_request"
    INVALID_CLIENT = "invalid_client"
    INVALID_GRANT = "invalid_grant"
    UNAUTHORIZED_CLIENT = "unauthorized_client"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_SCOPE = "invalid_scope"


class OAuthError(GatewayError):
    """A token request refused: 401 for invalid_client (the client did not authenticate),
    400 for every other code, as RFC 6749 section 5.2 says."""

    code = "security"

    def __init__(self, error: OAuthCode, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.status = 401 if error is OAuthCode.INVALID_CLIENT else 400


NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def outcome_body(code: str, diagnostics: str, issues: Sequence[Issue] = ()) -> bytes:
    """OperationOutcome JSON: the summary issue first, then any detailed issues."""
    listed: list[dict[str, object]] = [
        {"severity": "error", "code": code, "diagnostics": diagnostics}
    ]
    for issue in issues:
        entry: dict[str, object] = {
            "severity": "error",
            "code": issue.code,
            "diagnostics": issue.diagnostics,
        }
        if issue.location is not None:
            entry["expression"] = [issue.location]
        listed.append(entry)
    return orjson.dumps({"resourceType": "OperationOutcome", "issue": listed})


def error_response(exc: GatewayError) -> Response:
    if isinstance(exc, OAuthError):
        body = orjson.dumps({"error": exc.error.value, "error_description": exc.diagnostics})
        return Response(body, exc.status, headers=NO_STORE, media_type="application/json")
    body = outcome_body(exc.code, exc.diagnostics, exc.issues)
    return Response(body, exc.status, headers=dict(exc.headers()), media_type=FHIR_JSON)


async def _on_gateway_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)  # noqa: S101 - registered for GatewayError only
    return error_response(exc)


async def _on_ordering_error(_: Request, exc: Exception) -> Response:
    # Audit before release: an entry the ordering service never acknowledged (every server
    # unreachable past the submit deadline) means nothing was released. Retrying is safe.
    return error_response(
        UnavailableError(
            "the ordering service did not acknowledge the ledger entry this request needs: "
            "nothing was released; retry later"
        )
    )


async def _on_validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    issues = [
        Issue("invalid", str(err.get("msg", "invalid")), ".".join(map(str, err.get("loc", ()))))
        for err in exc.errors()
    ]
    return error_response(BadRequestError("the request is malformed", issues=issues))


async def _on_http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    mapped: dict[int, type[GatewayError]] = {404: NotFoundError, 400: BadRequestError}
    cls = mapped.get(exc.status_code)
    if cls is not None:
        return error_response(cls(str(exc.detail)))
    body = outcome_body("processing", str(exc.detail))
    return Response(body, exc.status_code, headers=exc.headers, media_type=FHIR_JSON)


async def _on_unexpected(_: Request, exc: Exception) -> Response:
    # No log call here: Starlette re-raises after this handler and the server logs the error;
    # a gateway's RequestLog (gateway.requestlog) catches it first and logs it once.
    return Response(outcome_body("exception", "internal error"), 500, media_type=FHIR_JSON)


def install_handlers(app: FastAPI) -> None:
    """Register the OperationOutcome renderers on the app (base classes cover every subclass)."""
    app.add_exception_handler(GatewayError, _on_gateway_error)
    app.add_exception_handler(OrderingError, _on_ordering_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
