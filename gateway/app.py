"""The app factory: one member's FastAPI app from its Settings (nothing is built at import)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from gateway import clock as wall_clock
from gateway.api import (
    auth,
    docs_ui,
    exchange,
    fhir,
    governance,
    health,
    ledger_api,
    metrics,
    openapi,
    outbound,
    patient,
    patient_auth,
    patient_consent,
    patient_notifications,
    policy,
)
from gateway.api.bodylimit import BodyLimit
from gateway.api.deps import Clock, Services
from gateway.api.metrics import RequestMetrics
from gateway.auth.jwks import RemoteJwks
from gateway.auth.keys import load_jwks
from gateway.auth.peer import MemberDirectory
from gateway.auth.replay import ReplayCache
from gateway.auth.smart import Client, KeySource, StaticKeys, TokenService
from gateway.auth.throttle import PeerThrottle
from gateway.auth.token_keys import TokenKeys
from gateway.errors import install_handlers
from gateway.fhir.service import FhirService
from gateway.identity.pseudonym import load_patient_key
from gateway.requestlog import RequestLog
from gateway.services.checkpoints import CheckpointService
from gateway.services.ledger import LedgerService
from gateway.services.metrics import Metrics
from gateway.services.notices import open_notices
from gateway.services.patient_tokens import PatientTokens
from gateway.services.proposals import ProposalService
from gateway.services.staleness import ViewAge
from gateway.services.watermark import RollbackGuard
from gateway.settings import Settings
from gateway.store.fhir_store import FhirStore
from gateway.store.seen_jti import SqlReplayCache


def system_clock() -> int:
    """Wall-clock seconds since the epoch."""
    return wall_clock.now_ms() // 1000


def load_clients(settings: Settings) -> dict[str, Client]:
    """The registered SMART clients with their public keys: a JWKS file is read once, at app
    creation; a JWKS URL is fetched when a token request first needs it."""
    out = {}
    for c in settings.clients:
        keys: KeySource
        if c.jwks_path is not None:
            keys = StaticKeys(load_jwks(c.jwks_path))
        else:
            assert c.jwks_url is not None  # noqa: S101 - ClientSettings requires one of the two
            keys = RemoteJwks(c.client_id, c.jwks_url)
        out[c.client_id] = Client(c.client_id, keys, c.scopes)
    return out


def create_app(
    settings: Settings,
    *,
    directory: MemberDirectory | None = None,
    clock: Clock = system_clock,
    store: FhirStore | None = None,
    replay: ReplayCache | None = None,
    ledger: LedgerService | None = None,
    checkpoints: CheckpointService | None = None,
    rollback: RollbackGuard | None = None,
    view: ViewAge | None = None,
    proposals: ProposalService | None = None,
) -> FastAPI:
    """The gateway app. ``directory`` is the member registry (None: peer routes answer 503);
    ``store`` defaults to one on ``settings.storage.url``, disposed when the app shuts down;
    ``replay`` defaults to the jti table in that store, shared by every replica;
    ``ledger``, when given, is the member's ledger node: it starts and stops with the app, and so
    does ``checkpoints``, its checkpointer (registered on the node already: see gateway.runtime);
    ``rollback`` suspends releases from a store older than this member's last checkpoint;
    ``proposals`` follows the governance proposal stream (started after the ledger node)."""
    owned = store is None
    fhir_store = store if store is not None else FhirStore.from_url(settings.storage.url)
    # In the member's database: a jti spent at one replica is refused by every other.
    replay_cache = replay if replay is not None else SqlReplayCache(fhir_store.engine)
    token_key = TokenKeys.from_file(settings.keys.token_key, settings.keys.rotation_overlap_seconds)
    tokens = TokenService(
        public_url=settings.public_url,
        clients=load_clients(settings),
        token_key=token_key,
        replay=replay_cache,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if ledger is not None:
            await ledger.start()
        if checkpoints is not None:
            await checkpoints.start()
        if view is not None:  # serve once caught up, or after the bound (then stale: 503s)
            await view.start(first_within_s=view.bound_s)
        if proposals is not None:
            await proposals.start()
        try:
            yield
        finally:
            if proposals is not None:
                await proposals.stop()
                await proposals.close()
            if view is not None:
                await view.stop()
            if checkpoints is not None:
                await checkpoints.stop()
            if ledger is not None:
                await ledger.stop()
            if checkpoints is not None:
                await checkpoints.close()
            if owned:
                fhir_store.close()

    counters = Metrics()
    # FastAPI's own OpenTelemetry bridge is off: the gateway exposes Prometheus metrics and JSON
    # logs without PHI (ARCHITECTURE.md section 5), and the bridge looked up three providers (three
    # os.environ reads) on every request even with nothing configured.
    telemetry: TelemetryConfig = {
        "tracing": False,
        "metrics": False,
        "logs": False,
        "operation_spans": False,
    }
    # /docs is ours (docs_ui: assets served offline, strict CSP); FastAPI's CDN pages are off.
    app = FastAPI(
        title=f"medgate {settings.org}",
        lifespan=lifespan,
        telemetry=telemetry,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = Services(
        settings=settings,
        fhir=FhirService(fhir_store, clock),
        tokens=tokens,
        directory=directory,
        replay=replay_cache,
        clock=clock,
        ledger=ledger,
        checkpointer=None if checkpoints is None else checkpoints.checkpointer,
        metrics=counters,
        patient_tokens=PatientTokens(
            settings.public_url,
            token_key,
            load_patient_key(settings.keys.patient_key.read_bytes()),
        ),
        checkpoints=checkpoints,
        rollback=rollback,
        view=view,
        proposals=proposals,
        throttle=PeerThrottle(
            settings.server.peer_requests_per_s, settings.server.peer_burst, clock
        ),
    )
    install_handlers(app)
    # First, so they match first: the exchange's hot routes, plain Starlette (see api.deps).
    app.router.routes.extend([*exchange.fast_routes, *outbound.fast_routes])
    for module in (fhir, auth, health, exchange, outbound, patient, ledger_api, policy, metrics):
        app.include_router(module.router)
    app.include_router(governance.router)
    app.include_router(patient.portal_router)
    app.include_router(patient_consent.router)
    app.include_router(patient_notifications.router)
    if ledger is not None:
        # Registered before the node starts: every block it commits is seen (the catch-up too).
        notices = open_notices(settings.notifications, fhir_store, ledger.store, ledger.clock_ms)
        ledger.on_block(notices.notifier.on_block)
        app.state.notices = notices
    # After the exchange's router: its lifespan opens the patient index this one reuses.
    app.include_router(patient_auth.router)
    app.include_router(docs_ui.router)
    openapi.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.server.max_body_bytes)
    # Counts every answer, the body limit's 413s included.
    app.add_middleware(RequestMetrics, metrics=counters)
    # Outermost: one log line per request, and the single place an unhandled error is logged.
    app.add_middleware(RequestLog, member=settings.org)
    return app
