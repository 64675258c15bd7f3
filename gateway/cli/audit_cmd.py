"""`medgate audit replay <tx_id> --config`: re-decide a recorded access and confirm or refute it.

Prints JSON {status, confirmed, recorded_digest, recomputed_digest, mismatches, missing_documents,
...}; exits 0 when the recorded decision is confirmed, 1 when refuted, 2 when it cannot be replayed
(including ``incomplete``: run at another member, it lacks the custodian's Consent documents). The
member's own evidence archive (its gateway store) is used when it is the record's custodian.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError, GatewayError
from gateway.services.replay import access_record_of, replay_tx
from gateway.settings import Settings
from gateway.store.evidence import EvidenceArchive
from ledger.errors import LedgerError
from ledger.ids import TxId
from ledger.storage.sql import SqlStore
from policies import default_policy

TX_ID = re.compile(r"[0-9a-f]{64}")
TX_PREFIX = re.compile(r"[0-9a-f]{8,64}")
"""A tx id or a unique prefix of one (8 hex digits at least, as the demo prints 16)."""


class TxLookupError(Exception):
    """The tx id prefix names no entry or more than one."""


def resolve_tx(store: SqlStore, text: str) -> TxId:
    """The full tx id ``text`` names: itself when 64 digits, else the one entry it prefixes.
    A prefix scans the log (an operator's command, not a request path); full ids use the index."""
    if TX_ID.fullmatch(text):
        return TxId(text)
    found = [e.tx_id for e in store.iter_entries() if e.tx_id.startswith(text)]
    if not found:
        raise TxLookupError(f"no ledger entry has a tx id starting {text}")
    if len(found) > 1:
        raise TxLookupError(f"{len(found)} ledger entries have a tx id starting {text}")
    return found[0]


def register(commands: Any) -> None:
    audit = commands.add_parser("audit", help="audit operations")
    sub = audit.add_subparsers(dest="audit_command", required=True)
    cmd = sub.add_parser("replay", help="re-decide a recorded access from ledger state")
    cmd.add_argument("tx_id", help="the access.record's tx id, or a unique prefix (8+ hex digits)")
    cmd.add_argument("--config", type=Path, required=True, help="the member's medgate.toml")
    cmd.set_defaults(run=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    if not TX_PREFIX.fullmatch(args.tx_id):
        print("audit replay: tx_id must be 8 to 64 lowercase hex digits", file=sys.stderr)
        return 2
    try:
        settings = Settings.load(args.config)
        store = SqlStore(settings.ledger_store_url)
    except (ConfigError, LedgerError) as exc:
        print(f"audit replay: {exc}", file=sys.stderr)
        return 2
    archive: EvidenceArchive | None = None
    try:
        tx_id = resolve_tx(store, args.tx_id)
        archive = _own_archive(store, tx_id, settings)
        report = replay_tx(store, tx_id, default_policy(), archive)
    except (GatewayError, LedgerError, TxLookupError) as exc:
        print(f"audit replay: cannot replay: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
        if archive is not None:
            archive.close()
    print(json.dumps(report.to_json(), indent=2))
    return {"confirmed": 0, "refuted": 1}.get(report.status, 2)


def _own_archive(store: SqlStore, tx_id: TxId, settings: Settings) -> EvidenceArchive | None:
    """This member's evidence archive when it is the record's custodian (else None: another
    member's archive never holds the custodian's documents)."""
    entry = store.entry_by_tx(tx_id)
    if entry is None or access_record_of(entry).get("custodian") != settings.org:
        return None
    return EvidenceArchive.from_url(settings.storage.url)
