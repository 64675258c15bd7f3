"""`medgate ledger verify`: re-check a member's ledger store from genesis, against its ordering log,
and against references outside it (this member's checkpoint record, a peer's cosigned checkpoint).

Exit codes: 0 verified and not behind; 1 the store is internally inconsistent (tampered, damaged);
2 the store, log or reference could not be read; 3 the store is behind a reference; 4 the store
is forked from a reference. The last stdout line is a JSON summary; one line on stderr says what
is wrong.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import time
from pathlib import Path
from typing import Any

from gateway.cli.verify_sources import LogReader, PeerLedger, ReferenceError
from gateway.identity.signing_ring import active_signing_key
from gateway.peers.tls import member_context
from gateway.services.ordering import open_ordering
from gateway.services.watermark import WatermarkError, load_watermark
from gateway.settings import Settings
from ledger.checkpoint import Checkpoint, electorate_of, verify_cosigned
from ledger.errors import CheckpointError, LedgerError, VerificationError
from ledger.ids import ConsortiumId
from ledger.ordering.solo import SoloOrdering
from ledger.standing import Comparison, ProofFetch, Standing, compare
from ledger.state import member, members
from ledger.storage.sql import SqlStore
from ledger.verify import verify_store

EXIT_OK, EXIT_INCONSISTENT, EXIT_UNREADABLE, EXIT_BEHIND, EXIT_FORKED = 0, 1, 2, 3, 4
_EXIT_OF = {Standing.BEHIND: EXIT_BEHIND, Standing.FORKED: EXIT_FORKED}


def register(commands: Any) -> None:
    ledger = commands.add_parser("ledger", help="ledger operations")
    sub = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = sub.add_parser("verify", help="re-check the whole store from genesis")
    source = verify.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="the member's medgate.toml")
    source.add_argument(
        "--store", help="a ledger store URL (sqlite:///... or postgresql+psycopg://...)"
    )
    verify.add_argument(
        "--ordering", type=Path, help="with --store: the solo ordering log (ordering.db)"
    )
    verify.add_argument(
        "--against",
        metavar="URL",
        help="a peer gateway's base URL: compare with its cosigned checkpoint (needs --config)",
    )
    verify.add_argument("--quiet", action="store_true", help="no progress lines")
    verify.set_defaults(run=run_verify)


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


def _fail(code: int, summary: dict[str, Any], line: str) -> int:
    print(json.dumps({"ok": False, **summary}))
    print(f"ledger verify: {line}", file=sys.stderr)
    return code


def run_verify(args: argparse.Namespace) -> int:
    try:
        settings = None if args.config is None else Settings.load(args.config)
    except Exception as exc:  # ConfigError and the file's own errors: all mean "cannot start"
        return _fail(EXIT_UNREADABLE, {"problem": str(exc)}, f"cannot load the config: {exc}")
    if args.against and settings is None:
        problem = "--against needs --config: the request is signed with the member's key"
        return _fail(EXIT_UNREADABLE, {"problem": problem}, problem)
    url = args.store if settings is None else settings.ledger_store_url
    try:
        store = SqlStore(url)
    except LedgerError as exc:
        return _fail(EXIT_UNREADABLE, {"problem": str(exc)}, f"cannot open the store: {exc}")
    try:
        return _verify_and_compare(args, settings, store)
    finally:
        store.close()


def _open_log(args: argparse.Namespace, settings: Settings | None) -> LogReader | None:
    if settings is not None:
        return LogReader(lambda: open_ordering(settings))
    if args.ordering is not None:
        path: Path = args.ordering
        if not path.is_file():
            raise ReferenceError(f"no ordering log at {path}")

        async def solo() -> SoloOrdering:
            return SoloOrdering(path)

        return LogReader(solo)
    return None


def _verify_and_compare(
    args: argparse.Namespace, settings: Settings | None, store: SqlStore
) -> int:
    try:
        log = _open_log(args, settings)
    except (LedgerError, ReferenceError, OSError) as exc:
        return _fail(EXIT_UNREADABLE, {"problem": str(exc)}, f"cannot read the ordering log: {exc}")
    try:
        result = verify_store(store, _Progress(args.quiet), log)
    except VerificationError as exc:
        bad = {"first_bad_height": exc.height, "problem": exc.problem}
        return _fail(EXIT_INCONSISTENT, bad, f"FAILED at height {exc.height}: {exc.problem}")
    except (LedgerError, ReferenceError) as exc:
        return _fail(EXIT_UNREADABLE, {"problem": str(exc)}, f"cannot read the store: {exc}")
    finally:
        if log is not None:
            log.close()
    summary: dict[str, Any] = {
        "height": result.height,
        "entries": result.entries,
        "state_rows": result.state_rows,
        "position": result.position,
        "log_checked": result.log_checked,
    }
    if not result.log_checked:
        print(
            "ledger verify: ordering positions checked for bounds only "
            "(give --config, or --ordering with --store, to recompute them from the log)",
            file=sys.stderr,
        )
    try:
        comparisons = _compare_references(args, settings, store)
    except (ReferenceError, WatermarkError, CheckpointError, LedgerError) as exc:
        return _fail(EXIT_UNREADABLE, summary | {"problem": str(exc)}, f"reference: {exc}")
    summary["references"] = [_describe(source, c) for source, c in comparisons]
    for source, found in comparisons:
        if found.standing in _EXIT_OF:
            line = f"{found.standing.upper()} against {source}: {found.problem}"
            return _fail(_EXIT_OF[found.standing], summary | {"problem": line}, line)
    print(json.dumps({"ok": True, **summary}))
    return EXIT_OK


def _describe(source: str, found: Comparison) -> dict[str, Any]:
    return {"source": source, "standing": str(found.standing), "height": found.reference_height}


def _compare_references(
    args: argparse.Namespace, settings: Settings | None, store: SqlStore
) -> list[tuple[str, Comparison]]:
    """Every reference available: the peer named by --against first, then the member's record."""
    head = store.head()
    if settings is None or head is None:
        return []
    references: list[tuple[str, Checkpoint, ProofFetch | None]] = []
    if args.against:
        own = member(store, settings.org)
        kids = () if own is None else own.active_kids()  # mid-rotation: the key the ledger holds
        key = active_signing_key(settings.keys.signing_key, kids)
        peer = PeerLedger(args.against, settings.org, key, peer_tls(store, args.against, settings))
        cosigned = peer.checkpoint()
        source = f"{peer.url}'s cosigned checkpoint"
        try:
            verify_cosigned(cosigned, electorate_of(store), ConsortiumId(settings.consortium))
        except CheckpointError:
            if cosigned.height <= head.height:
                raise  # at a height we hold, its signers must be members our state knows
            # Past our head the members or keys may have changed since: the consistency proof
            # still ties it to our log, but its signatures are the peer's word.
            source += " (signatures not checkable at our height)"
        references.append((source, cosigned.cp, peer.consistency))
    record = load_watermark(settings.storage.watermark)
    if record.signed is not None:
        references.append(("this member's last signed checkpoint", record.signed, None))
    if record.final is not None:
        references.append(("this member's last cosigned checkpoint", record.final.cp, None))
    return [(source, compare(store, head, ref, proof)) for source, ref, proof in references]


def peer_tls(store: SqlStore, url: str, settings: Settings) -> ssl.SSLContext | bool:
    """The TLS trust for ``--against URL``: the CA registered on our ledger for the member whose
    endpoint that is (as every peer call trusts only the called member's CA); the system's CAs
    for an https URL no member registers; plain HTTP only where the config allows it. Raises
    ReferenceError for a refused http:// URL."""
    wanted = url.rstrip("/")
    if wanted.startswith("http://"):
        if not settings.server.allow_plain_http:
            raise ReferenceError(f"{url}: plain HTTP is refused (server.allow_plain_http)")
        return False
    for found in members(store):
        if found.endpoint.rstrip("/") == wanted and found.ca_chain:
            return member_context(found.ca_chain[0])
    return True
