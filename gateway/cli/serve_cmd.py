"""`medgate serve`: run one member's gateway under uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import logging
import os
import socket
from pathlib import Path
from typing import Any

import uvicorn
import uvloop
from sqlalchemy.exc import SQLAlchemyError

from gateway.errors import ConfigError
from gateway.fileperms import loose_paths
from gateway.runtime import open_gateway
from gateway.services.jsonlog import configure_logging
from gateway.services.watermark import WatermarkError
from gateway.settings import Settings
from gateway.tls import check_transport, nats_client_context, serves_tls
from ledger.errors import LedgerError

log = logging.getLogger("medgate.serve")
SUPERVISOR_ENV = "MEDGATE_SUPERVISOR_PID"


def register(commands: Any) -> None:
    cmd = commands.add_parser("serve", help="run a member's gateway")
    cmd.add_argument("--config", type=Path, required=True, help="the member's medgate.toml")
    cmd.set_defaults(run=run)


class StartupError(Exception):
    """The gateway cannot start (bad config, port in use): one line, exit code ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def bind(settings: Settings) -> socket.socket:
    """The listening socket, bound before anything else starts, so a busy port fails at once."""
    host, port = settings.server.host, settings.server.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: connections of a previous run lingering in TIME_WAIT must not block a restart.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        problem = (
            "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
        )
        raise StartupError(f"port {port} on {host} {problem}", 3) from None
    return sock


async def serve(settings: Settings, sock: socket.socket) -> None:
    """Serves on ``sock`` until a signal. Raises StartupError (4) when the stores, the ledger
    node or the app cannot start."""
    try:
        app = await open_gateway(settings)
    except WatermarkError as exc:  # refuse to guess what this member signed: an operator looks
        raise StartupError(str(exc), 2) from None
    except (LedgerError, OSError, SQLAlchemyError) as exc:
        # The class only: a driver's message may quote a URL with its password.
        raise StartupError(f"{type(exc).__name__} opening the stores", 4) from None
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level="warning",
        log_config=None,  # keep the JSON handler configure_logging installed
        access_log=False,  # request lines carry patient search parameters: no PHI in logs
        server_header=False,
        http="httptools",
        # HTTPS with the member's certificate (gateway.tls.check_transport ran at start).
        ssl_certfile=str(settings.server.tls_cert) if serves_tls(settings) else None,
        ssl_keyfile=str(settings.server.tls_key) if serves_tls(settings) else None,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    supervisor = os.environ.get(SUPERVISOR_ENV, "")
    orphaned = asyncio.create_task(_exit_when_orphaned(server, int(supervisor or 0)))
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    if server.started:
        tune_gc()
    try:
        await serving
    finally:
        orphaned.cancel()
    if not server.started:
        # uvicorn logged why (the lifespan's error) and returned without serving.
        raise StartupError("the gateway's ledger node or stores did not start", 4)


async def _exit_when_orphaned(server: uvicorn.Server, supervisor: int) -> None:
    """Under a supervisor (``medgate demo`` sets MEDGATE_SUPERVISOR_PID), stop when it is gone,
    even if it was SIGKILLed and could not stop us: a gateway left behind holds its port."""
    if supervisor <= 0:
        return
    while os.getppid() == supervisor:
        await asyncio.sleep(0.5)
    log.warning("the supervising process is gone: stopping")
    server.should_exit = True


def tune_gc() -> None:
    """Once the gateway has started: collect, then freeze what start-up built (modules, models,
    routes, keys) out of the collector's sight, and collect the young generation less often. Measured on the exchange benchmark, the default thresholds ran a collection every
    ~7 requests and a full one over ~140,000 start-up objects every ~1,000: ~0.1 ms of CPU per
    request and pauses in the tail latency. Garbage cycles are still collected, in larger
    batches (at most ~50,000 young objects between collections)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def run(args: argparse.Namespace) -> int:
    """Serves until SIGTERM/SIGINT. A startup failure is one JSON log line on stderr naming the
    cause (no traceback) and a non-zero exit: 2 bad config, 3 port in use, 4 store or ledger."""
    configure_logging(logging.INFO)
    try:
        settings = _settings(args.config)
        sock = bind(settings)
    except StartupError as exc:
        log.error(f"cannot start: {exc}", extra={"exit_code": exc.code})
        return exc.code
    loose = loose_paths(settings.config_dir)
    if loose:  # made by an older version, or by hand: the gateway still runs, the operator is told
        log.warning(
            "files or folders readable by others (want 0600 files in 0700 folders)",
            extra={"paths": [str(p) for p in loose]},
        )
    # uvloop (installed with uvicorn[standard]) is the faster event loop uvicorn itself prefers.
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(settings, sock))
    except StartupError as exc:
        log.error(f"cannot start: {exc}", extra={"exit_code": exc.code})
        return exc.code
    finally:
        sock.close()
    return 0


def _settings(path: Path) -> Settings:
    try:
        settings = Settings.load(path)
        check_transport(settings)  # plain HTTP only on a loopback demo; HTTPS needs its files
        nats_client_context(settings)  # NATS TLS files readable, before anything starts
        return settings
    except ConfigError as exc:
        raise StartupError(f"bad config {path}: {exc}", 2) from None
