"""`medgate ledger verify`: re-check a member's ledger store from genesis."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from gateway.settings import Settings
from ledger.errors import LedgerError, VerificationError
from ledger.storage.sql import SqlStore
from ledger.verify import verify_store


def register(commands: Any) -> None:
    ledger = commands.add_parser("ledger", help="ledger operations")
    sub = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = sub.add_parser("verify", help="re-check the whole store from genesis")
    source = verify.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="the member's medgate.toml")
    source.add_argument(
        "--store", help="a ledger store URL (sqlite:///... or postgresql+psycopg://...)"
    )
    verify.add_argument("--quiet", action="store_true", help="no progress lines")
    verify.set_defaults(run=run_verify)


def _store_url(args: argparse.Namespace) -> str:
    if args.store:
        return str(args.store)
    return Settings.load(args.config).ledger_store_url


class _Progress:
    """Prints a progress line at most every half second (long stores take a while)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.last = 0.0

    def __call__(self, height: int, head: int) -> None:
        now = time.monotonic()
        if self.quiet or (now - self.last < 0.5 and height != head):
            return
        self.last = now
        print(f"verified height {height}/{head}", file=sys.stderr, flush=True)


def run_verify(args: argparse.Namespace) -> int:
    store = SqlStore(_store_url(args))
    try:
        result = verify_store(store, _Progress(args.quiet))
    except VerificationError as exc:
        print(json.dumps({"ok": False, "first_bad_height": exc.height, "problem": exc.problem}))
        print(f"ledger verify: FAILED at height {exc.height}: {exc.problem}", file=sys.stderr)
        return 1
    except LedgerError as exc:
        print(f"ledger verify: cannot read the store: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    summary = {"ok": True, "height": result.height, "entries": result.entries}
    print(json.dumps(summary | {"state_rows": result.state_rows}))
    return 0
