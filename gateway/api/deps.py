"""Request dependencies: the app's services, bearer tokens, scope checks and peer identity."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from gateway.auth.peer import (
    MemberDirectory,
    PeerIdentity,
    check_peer_assertion,
    verify_peer_assertion,
)
from gateway.auth.replay import ReplayCache
from gateway.auth.scopes import Action, allows
from gateway.auth.smart import AccessGrant, TokenService
from gateway.auth.throttle import PeerThrottle
from gateway.errors import (
    AuthError,
    BadRequestError,
    ForbiddenError,
    Issue,
    UnavailableError,
    UnsupportedMediaError,
)
from gateway.fhir.service import FhirService
from gateway.services.checkpoints import CheckpointService
from gateway.services.ledger import LedgerService
from gateway.services.metrics import Metrics
from gateway.services.patient_tokens import PatientTokens
from gateway.services.proposals import ProposalService
from gateway.services.staleness import ViewAge
from gateway.services.watermark import RollbackGuard
from gateway.settings import Settings
from ledger.node.checkpointer import Checkpointer

Clock = Callable[[], int]
"""Seconds since the epoch; passed in so tests can move time."""

FHIR_MEDIA_TYPES = frozenset({"application/fhir+json", "application/json"})
Body = TypeVar("Body", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a request handler may use, built once by the app factory."""

    settings: Settings
    fhir: FhirService
    tokens: TokenService
    directory: MemberDirectory | None
    replay: ReplayCache
    clock: Clock
    ledger: LedgerService | None = None
    checkpointer: Checkpointer | None = None
    metrics: Metrics = field(default_factory=Metrics)
    """Counters: ``svc.metrics.inc("medgate_decisions_total", {"effect": "permit"})``."""
    patient_tokens: PatientTokens | None = None
    checkpoints: CheckpointService | None = None
    """Runs ``checkpointer``; its ``failure`` makes /readyz answer 503."""
    rollback: RollbackGuard | None = None
    """Its ``problem`` (a store older than this member's last checkpoint) suspends releases."""
    view: ViewAge | None = None
    """How long ago this member last confirmed it holds the whole ledger: past the bound,
    releases are refused (bounded staleness)."""
    proposals: ProposalService | None = None
    """Follows the governance proposal stream; proposes and endorses with this member's key."""
    throttle: PeerThrottle | None = None
    """Per-peer request rate (429 past it); None: no limit."""


def ensure_releasable(svc: Services) -> None:
    """Default deny on a doubtful ledger: no data leaves while this member's ledger node has
    stopped or its chain disagrees with the consortium's checkpoints (until an operator clears it).
    Raises UnavailableError (503)."""
    if svc.ledger is None:
        raise UnavailableError("this gateway has no ledger: it cannot record a release")
    if svc.ledger.failure is not None:
        raise UnavailableError("the ledger node stopped; releases are suspended")
    if svc.checkpointer is not None and svc.checkpointer.alarm is not None:
        raise UnavailableError("ledger checkpoints disagree; releases are suspended")
    if svc.rollback is not None and svc.rollback.problem is not None:
        raise UnavailableError(f"{svc.rollback.problem}; releases are suspended")
    stale = None if svc.view is None else svc.view.stale_reason()
    if stale is not None:  # a revocation may be in a block this member has not seen
        raise UnavailableError(f"{stale}; releases are suspended")


# The dependencies below are cheap and never block (in-memory caches, one ES256 verify): declared
# async, FastAPI runs them inline instead of handing each to its thread pool (a hop per dependency
# per request, measured as a large share of the exchange path's cost under load). The peer check
# also spends the assertion's jti in the member's database: a batched write in a worker thread
# (gateway.store.seen_jti), awaited, so the loop is never blocked.


# The hottest routes (the exchange query on both sides) are plain Starlette endpoints that call the
# ``*_of`` helpers below directly: FastAPI's dependency solving cost several times the rest of the
# framework's work per request there. The dependencies wrap the same helpers, so both paths check
# the same things in the same order (credentials first, then the body).


def services_of(request: Request) -> Services:
    found = request.app.state.services
    assert isinstance(found, Services)  # noqa: S101 - set by create_app
    return found


def bearer_of(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("a Bearer token is required", error="invalid_request")
    return token.strip()


def grant_of(request: Request) -> AccessGrant:
    """The verified SMART access grant of the request's Bearer token. Raises AuthError."""
    svc = services_of(request)
    return svc.tokens.check(bearer_of(request), svc.clock())


async def peer_of(request: Request) -> PeerIdentity:
    """The verified peer behind the request's assertion. Raises AuthError, UnavailableError."""
    return await verify_peer_async(services_of(request), bearer_of(request))


def json_body(model: type[Body], raw: bytes, content_type: str | None) -> Body:
    """``raw`` validated as ``model``; BadRequestError (400) with one issue per error, located
    as FastAPI locates them, or UnsupportedMediaError (415) for a body that is not JSON."""
    media_type = (content_type or "application/json").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaError(media_type)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        issues = [
            Issue(
                "invalid", str(err.get("msg", "invalid")), ".".join(map(str, ("body", *err["loc"])))
            )
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise BadRequestError("the request is malformed", issues=issues) from None


async def services(request: Request) -> Services:
    return services_of(request)


ServicesDep = Annotated[Services, Depends(services)]


async def bearer_token(request: Request) -> str:
    return bearer_of(request)


BearerDep = Annotated[str, Depends(bearer_token)]


async def access_grant(svc: ServicesDep, token: BearerDep) -> AccessGrant:
    return svc.tokens.check(token, svc.clock())


GrantDep = Annotated[AccessGrant, Depends(access_grant)]


def _require(action: Action) -> Callable[[str, AccessGrant], Awaitable[AccessGrant]]:
    async def check(resource_type: str, grant: GrantDep) -> AccessGrant:
        if not allows(grant.scopes, resource_type, action):
            raise ForbiddenError(f"scope system/{resource_type}.{action.value} required")
        return grant

    return check


ReadDep = Annotated[AccessGrant, Depends(_require(Action.READ))]
WriteDep = Annotated[AccessGrant, Depends(_require(Action.WRITE))]


async def fhir_body(request: Request) -> bytes:
    """The request body, once its Content-Type is FHIR JSON (415 otherwise)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in FHIR_MEDIA_TYPES:
        raise UnsupportedMediaError(media_type)
    return await request.body()


FhirBodyDep = Annotated[bytes, Depends(fhir_body)]


async def peer_identity(svc: ServicesDep, token: BearerDep) -> PeerIdentity:
    """The verified peer behind this request; 401 if not, 503 when no member registry is wired."""
    return await verify_peer_async(svc, token)


async def verify_peer_async(svc: Services, token: str) -> PeerIdentity:
    """``verify_peer`` from the event loop: the signature is checked inline, the jti spent in the
    member's database by a batched write that does not block the loop."""
    if svc.directory is None:
        # Default deny: without the member registry nobody can be recognised as a peer.
        raise UnavailableError("the member registry is not available")
    now = svc.clock()
    checked = check_peer_assertion(
        token, directory=svc.directory, audience=svc.settings.public_url, now=now
    )
    jti = checked.identity.jti
    if not await svc.replay.first_use_async(checked.scope, jti, checked.expires_at, now):
        raise AuthError("assertion jti replayed")
    if svc.throttle is not None:  # after verification: only registered members get a bucket
        svc.throttle.admit(checked.identity.org)
    return checked.identity


def verify_peer(svc: Services, token: str) -> PeerIdentity:
    """The peer whose assertion ``token`` is, checked against the member registry on the ledger
    (aud = this gateway, jti unused, then spent); AuthError if not, 503 when no registry is
    wired, RateLimitedError (429) when the peer is over its request rate. Blocking (a database
    write): for sync routes and dependencies, which run in a worker thread; on the event loop use
    ``verify_peer_async``."""
    if svc.directory is None:
        # Default deny: without the member registry nobody can be recognised as a peer.
        raise UnavailableError("the member registry is not available")
    peer = verify_peer_assertion(
        token,
        directory=svc.directory,
        audience=svc.settings.public_url,
        replay=svc.replay,
        now=svc.clock(),
    )
    if svc.throttle is not None:  # after verification: only registered members get a bucket
        svc.throttle.admit(peer.org)
    return peer


PeerDep = Annotated[PeerIdentity, Depends(peer_identity)]
