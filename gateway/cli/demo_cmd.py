"""`medgate demo`: a whole consortium on one machine, walked through step by step, supervised."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from gateway.demo.processes import GatewayDiedError, PortInUseError
from gateway.demo.run import run_demo
from gateway.identity.files import ExistingMaterialError


def register(commands: Any) -> None:
    cmd = commands.add_parser("demo", help="run a consortium on this machine and walk through it")
    cmd.add_argument("--dir", type=Path, default=Path(".demo"), help="where the consortium lives")
    cmd.add_argument("--fresh", action="store_true", help="delete --dir first")
    cmd.add_argument("--no-serve", action="store_true", help="exit after the walkthrough")
    cmd.add_argument("--base-port", type=int, default=8401, help="first member's HTTP port")
    cmd.set_defaults(run=run)


class Stopped(Exception):
    """SIGTERM or SIGINT arrived: the demo stops its gateways and exits 0."""


def run(args: argparse.Namespace) -> int:
    root: Path = args.dir
    if args.fresh and root.exists():
        shutil.rmtree(root)
    try:
        ok = asyncio.run(_until_signal(root, serve=not args.no_serve, base_port=args.base_port))
    except (Stopped, KeyboardInterrupt):
        print("medgate demo: stopped; every gateway has exited", flush=True)
        return 0
    except PortInUseError as exc:
        print(f"medgate demo: {exc}", file=sys.stderr, flush=True)
        return 3
    except ExistingMaterialError as exc:
        print(f"medgate demo: {exc} exists; add --fresh to start over", file=sys.stderr, flush=True)
        return 2
    except (GatewayDiedError, TimeoutError) as exc:
        print(f"medgate demo: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0 if ok else 1


async def _until_signal(root: Path, *, serve: bool, base_port: int) -> bool:
    """run_demo, cancelled by SIGTERM or SIGINT; its ``finally`` stops every child either way."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(run_demo(root, serve=serve, base_port=base_port))
    signalled: list[int] = []

    def stop(signum: int) -> None:
        signalled.append(signum)
        task.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    try:
        return await task
    except asyncio.CancelledError:
        if signalled:
            raise Stopped from None
        raise
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):
                loop.remove_signal_handler(signum)
