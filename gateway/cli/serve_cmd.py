"""`medgate serve`: run one member's gateway under uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any

import uvicorn
import uvloop

from gateway.runtime import open_gateway
from gateway.services.jsonlog import configure_logging
from gateway.settings import Settings


def register(commands: Any) -> None:
    cmd = commands.add_parser("serve", help="run a member's gateway")
    cmd.add_argument("--config", type=Path, required=True, help="the member's medgate.toml")
    cmd.set_defaults(run=run)


async def serve(settings: Settings) -> None:
    app = await open_gateway(settings)
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level="warning",
        log_config=None,  # keep the JSON handler configure_logging installed
        access_log=False,  # request lines carry patient search parameters: no PHI in logs
        server_header=False,
        http="httptools",
    )
    await uvicorn.Server(config).serve()


def run(args: argparse.Namespace) -> int:
    configure_logging(logging.INFO)
    settings = Settings.load(args.config)
    # uvloop (installed with uvicorn[standard]) is the faster event loop uvicorn itself prefers.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(settings))
    return 0
