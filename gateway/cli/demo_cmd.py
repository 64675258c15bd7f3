"""`medgate demo`: a whole consortium on one machine, walked through step by step."""

from __future__ import annotations

import argparse
import asyncio
import shutil
from pathlib import Path
from typing import Any

from gateway.demo.ledger_walk import run_ledger_walk


def register(commands: Any) -> None:
    cmd = commands.add_parser("demo", help="run a consortium on this machine and walk through it")
    cmd.add_argument("--dir", type=Path, default=Path(".demo"), help="where the consortium lives")
    cmd.add_argument("--fresh", action="store_true", help="delete --dir first")
    cmd.add_argument("--no-serve", action="store_true", help="exit after the walkthrough")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    root: Path = args.dir
    if args.fresh and root.exists():
        shutil.rmtree(root)
    ok = asyncio.run(run_ledger_walk(root))
    return 0 if ok else 1
