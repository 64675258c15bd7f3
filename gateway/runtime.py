"""One member's running gateway: its ledger node, checkpointer, member directory and HTTP app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from fastapi import FastAPI

from gateway.app import create_app
from gateway.clock import now_ms
from gateway.identity.signing_ring import SigningRing
from gateway.services.checkpoints import CheckpointService
from gateway.services.directory import LedgerDirectory, block_ts_of
from gateway.services.ledger import LedgerService
from gateway.services.ordering import open_ordering, tail_probe
from gateway.services.proposals import ProposalService
from gateway.services.staleness import ViewAge
from gateway.services.watermark import RollbackGuard, load_watermark, own_keys, own_latest
from gateway.settings import Settings
from ledger.ids import ConsortiumId, OrgId
from ledger.storage.sql import SqlStore


async def open_ledger(
    settings: Settings, *, cut_after: float = 0.05, clock_ms: Callable[[], int] = now_ms
) -> LedgerService:
    """The member's ledger node (not yet started), on ``clock_ms``: the member's one clock. It
    holds every signing key of the member's key files and signs with the one the ledger has
    active (docs/key-rotation.md)."""
    ring = SigningRing(settings.keys.signing_key)
    return LedgerService(
        OrgId(settings.org),
        ring.key,
        SqlStore(settings.ledger_store_url),
        await open_ordering(settings),
        settings.keys.genesis.read_bytes(),
        clock_ms=clock_ms,
        cut_after=cut_after,
        keyring=ring,
        peer_grace_ms=settings.keys.rotation_overlap_seconds * 1000 // 2,
    )


async def open_checkpoints(settings: Settings, ledger: LedgerService) -> CheckpointService:
    """The member's checkpointer on the consortium's checkpoint stream, registered on ``ledger``'s
    blocks. Requires ``ledger`` not started yet (every block it commits must be signed)."""
    service = await CheckpointService.attach(
        ledger,
        ledger.signing_key,
        await open_ordering(settings, stream="checkpoints"),
        ConsortiumId(settings.consortium),
        settings.keys.genesis.read_bytes(),
    )
    ledger.on_rekey(service.checkpointer.rekey)  # a rotated key signs the checkpoints too
    return service


async def open_rollback_guard(
    settings: Settings, ledger: LedgerService, checkpoints: CheckpointService
) -> RollbackGuard:
    """The rollback guard, its start-up check already run against ``ledger``'s store (requires it
    bootstrapped, as ``open_checkpoints`` does) and registered on its blocks. Reads the record
    file and this member's own latest checkpoint on the checkpoint stream, keeping the higher:
    own under any of its signing keys, those the ledger records and those its key files hold."""
    org = OrgId(settings.org)
    held = SigningRing(settings.keys.signing_key).public_keys()
    keys = await asyncio.to_thread(own_keys, ledger.store, org, held)
    stream = await open_ordering(settings, stream="checkpoints")
    try:
        own = await own_latest(stream, org, keys, ConsortiumId(settings.consortium))
    finally:
        await stream.close()
    record = load_watermark(settings.storage.watermark).raised(own, None)
    guard = RollbackGuard(
        settings.storage.watermark,
        ConsortiumId(settings.consortium),
        record,
        final=checkpoints.checkpointer.final,
    )
    head = ledger.store.head()
    if head is not None:
        guard.check(ledger.store, head)
    ledger.on_block(guard.on_block)
    return guard


async def open_proposals(settings: Settings, ledger: LedgerService) -> ProposalService:
    """The member's follower of the consortium's governance proposal stream, signing (proposals,
    endorsements) with this member's own signing key only."""
    return ProposalService(
        ledger,
        ledger.signing_key,
        await open_ordering(settings, stream="proposals"),
        ledger.clock_ms,
    )


def build_app(
    settings: Settings,
    ledger: LedgerService,
    checkpoints: CheckpointService | None = None,
    rollback: RollbackGuard | None = None,
    proposals: ProposalService | None = None,
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The HTTP app wired to ``ledger``: peers are checked against its committed member registry,
    and the node (and its checkpointer, when given) starts and stops with the app. Releases stop
    once the view is older than ``ordering.max_view_age_s`` on ``monotonic`` (gateway.services.
    staleness)."""
    clock_ms = ledger.clock_ms
    overlap_ms = settings.keys.rotation_overlap_seconds * 1000
    directory = LedgerDirectory(
        ledger.store, clock_ms=clock_ms, overlap_ms=overlap_ms, block_ts=block_ts_of(ledger.store)
    )
    view = ViewAge(
        tail_probe(ledger.ordering, settings.ordering.max_view_age_s),
        lambda: ledger.committer.synced_position,
        bound_s=settings.ordering.max_view_age_s,
        monotonic=monotonic,
    )
    return create_app(
        settings,
        directory=directory,
        clock=lambda: clock_ms() // 1000,  # one clock: tokens and assertions too
        ledger=ledger,
        checkpoints=checkpoints,
        rollback=rollback,
        view=view,
        proposals=proposals,
    )


async def open_gateway(
    settings: Settings,
    *,
    cut_after: float = 0.05,
    clock_ms: Callable[[], int] = now_ms,
    monotonic: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """Everything a member runs, wired: what ``medgate serve`` serves. ``clock_ms`` is the one
    clock of every time on the decision path (decisions, ledger entries, archive, tokens)."""
    ledger = await open_ledger(settings, cut_after=cut_after, clock_ms=clock_ms)
    checkpoints = await open_checkpoints(settings, ledger)
    rollback = await open_rollback_guard(settings, ledger, checkpoints)
    proposals = await open_proposals(settings, ledger)
    return build_app(settings, ledger, checkpoints, rollback, proposals, monotonic=monotonic)
