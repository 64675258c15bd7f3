"""`medgate demo`: a whole consortium on one machine, walked through step by step."""

from __future__ import annotations

import argparse
import asyncio
import shutil
from pathlib import Path
from typing import Any

from gateway.demo.walkthrough import run_demo


def register(commands: Any) -> None:
    cmd = commands.add_parser("demo", help="run a consortium on this machine and walk through it")
    cmd.add_argument("--dir", type=Path, default=Path(".demo"), help="where the consortium lives")
    cmd.add_argument("--fresh", action="store_true", help="delete --dir first")
    cmd.add_argument("--no-serve", action="store_true", help="exit after the walkthrough")
    cmd.add_argument("--base-port", type=int, default=8401, help="first member's HTTP port")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    root: Path = args.dir
    if args.fresh and root.exists():
        shutil.rmtree(root)
    try:
        ok = asyncio.run(run_demo(root, serve=not args.no_serve, base_port=args.base_port))
    except KeyboardInterrupt:
        return 0
    return 0 if ok else 1
