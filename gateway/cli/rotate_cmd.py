"""`medgate member rotate`: a member rotates its own signing, encryption or token key.

    medgate member rotate --config D/ORG/medgate.toml --signing [--keep-old | --compromised]
        [--out update.json]
    medgate member rotate --config D/ORG/medgate.toml --encryption [--out update.json]
    medgate member rotate --config D/ORG/medgate.toml --token
    medgate member rotate --config D/ORG/medgate.toml --finish

``--signing`` and ``--encryption`` write the next key beside the old one (0600) and print the
``member.update`` body to propose (also written to ``--out``). After the update is committed,
``--finish`` keeps the old key in ``keys/retired/`` and makes the new one the key in force.
``--token`` switches the token key at once (the old one is kept retired for the overlap) and
prints the new token JWKS. Exit 0 done, 1 refused (the message says why), 2 bad config.
See docs/key-rotation.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from gateway.identity import rotation
from gateway.settings import Settings
from ledger.storage.sql import SqlStore


def add_rotate(member_commands: Any) -> None:
    """``rotate`` under an existing ``member`` command group."""
    cmd = member_commands.add_parser("rotate", help="rotate this member's keys")
    cmd.add_argument("--config", type=Path, required=True, help="the member's medgate.toml")
    which = cmd.add_mutually_exclusive_group(required=True)
    which.add_argument("--signing", action="store_true", help="a new ledger signing key")
    which.add_argument("--encryption", action="store_true", help="a new encryption key")
    which.add_argument("--token", action="store_true", help="a new token key (immediate)")
    which.add_argument("--finish", action="store_true", help="after the update is committed")
    cmd.add_argument(
        "--keep-old", action="store_true", help="--signing: add the key, retire the old later"
    )
    cmd.add_argument(
        "--compromised",
        action="store_true",
        help="--signing: the old key may be in other hands: peers grant it no overlap",
    )
    cmd.add_argument("--out", type=Path, help="also write the member.update body here")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load(args.config)
    except ConfigError as exc:
        print(f"member rotate: {exc}", file=sys.stderr)
        return 2
    try:
        return _step(args, settings)
    except rotation.RotationError as exc:
        print(f"member rotate: {exc.problem}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"member rotate: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _step(args: argparse.Namespace, settings: Settings) -> int:
    now = int(time.time())
    if args.finish:
        store = SqlStore(settings.ledger_store_url)
        try:
            for line in rotation.finish(settings, store, now):
                print(line)
        finally:
            store.close()
        return 0
    if args.token:
        print(json.dumps(rotation.rotate_token(settings, now), indent=2, sort_keys=True))
        print("token key rotated; the gateway signs with it from its next token", file=sys.stderr)
        return 0
    if args.signing:
        when = datetime.fromtimestamp(now, tz=UTC)
        body = rotation.begin_signing(
            settings, when, retire_old=not args.keep_old, compromised=args.compromised
        )
    else:
        body = rotation.begin_encryption(settings)
    text = json.dumps(body, indent=2, sort_keys=True)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    print(
        "propose this member.update; once committed, run `medgate member rotate --finish`",
        file=sys.stderr,
    )
    return 0
