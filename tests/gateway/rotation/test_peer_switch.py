"""When the rotating member's gateway gives peers its new signing key (assertions, envelope
signatures): half an overlap after the block that retired the old key, a time read from committed
ledger state, so a gateway restarted (or a replica started) inside that half still gives the old
key until then. A compromised key is never given to peers after the commit; with ``--keep-old``
the old key goes to peers while the ledger holds it active.

Real ledger nodes (``open_ledger``: SQLite store, solo ordering) on one manual clock; a restart is
a fresh node over the same store and log.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gateway.clock import utcnow
from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.identity.files import load_private_key
from gateway.identity.rotation import begin_signing, finish
from gateway.runtime import open_ledger
from gateway.services.ledger import LedgerService
from gateway.settings import Settings
from ledger.entries import make_tx, nonce_from_bytes, sign_entry, tx_id_of
from ledger.ids import Kid, OrgId
from ledger.validation.codes import ValidationCode as C
from tests.e2e.gateways import free_base_port
from tests.gateway.audit.harness import access_body
from tests.gateway.rotation.harness import Clock

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("insurer-b", "insurer"),
    MemberSpec("agency-c", "agency"),
]
GRACE_MS = 900 * 1000 // 2  # half the default rotation_overlap_seconds


class World:
    """hospital-a's settings and one clock; ``node()`` opens and starts a node (a restart)."""

    def __init__(self, root: Path) -> None:
        created = create_consortium(root, "peer switch", MEMBERS, base_port=free_base_port(3))
        self.root = root
        self.settings = Settings.load(created.members[0].config)
        self.clock = Clock()

    async def node(self) -> LedgerService:
        ledger = await open_ledger(self.settings, cut_after=0.01, clock_ms=self.clock)
        await ledger.start()
        return ledger

    async def commit_update(self, ledger: LedgerService, body: dict[str, Any]) -> int:
        """Order hospital-a's ``member.update`` (signed with the node's key, endorsed by
        agency-c), wait until the node committed it and followed it; the block's ts."""
        endorser = load_private_key(self.root / "agency-c" / "keys" / "signing.key")
        nonce = nonce_from_bytes(secrets.token_bytes(16))
        org = OrgId("hospital-a")
        tx = make_tx("member.update", org, ledger.kid, self.clock.ms, nonce, body)
        tx_id = tx_id_of(tx)
        await ledger.ordering.submit(
            sign_entry(tx, ledger.signing_key, {OrgId("agency-c"): endorser}), tx_id
        )
        entry = await ledger.committer.wait_committed(tx_id, 30)
        assert entry.code == C.VALID
        # A later block: the node hears of blocks in order, so every listener of the update's
        # block (the key switch among them) has run once this one is committed.
        record = access_body("insurer-b", "insurer", "hospital-a", "B" * 43)
        assert (await ledger.record_committed("access.record", record)).code == C.VALID
        assert ledger.kid == body.get("add_signing_key", {}).get("kid", ledger.kid)
        header = ledger.store.block(entry.height)
        assert header is not None
        return header.ts


class Nodes:
    """The node running now; ``restart`` stops it and starts a fresh one over the same store."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.now: LedgerService | None = None

    async def start(self) -> LedgerService:
        self.now = await self.world.node()
        return self.now

    async def restart(self) -> LedgerService:
        await self.stop()
        return await self.start()

    async def stop(self) -> None:
        if self.now is not None:
            running, self.now = self.now, None
            await running.stop()


def _run(world: World, scenario: Callable[[Nodes], Awaitable[None]]) -> None:
    async def run() -> None:
        nodes = Nodes(world)
        try:
            await scenario(nodes)
        finally:
            await nodes.stop()

    asyncio.run(run())


def test_a_restart_inside_the_half_overlap_still_gives_peers_the_old_key(tmp_path: Path) -> None:
    world = World(tmp_path)
    old_key = load_private_key(world.settings.keys.signing_key)

    async def scenario(nodes: Nodes) -> None:
        ledger = await nodes.start()
        old_kid = ledger.kid
        body = begin_signing(world.settings, utcnow())
        new_kid = Kid(body["add_signing_key"]["kid"])
        block_ts = await world.commit_update(ledger, body)
        switch_at = block_ts + GRACE_MS
        assert ledger.peer_signer[1] == old_kid  # ledger entries are on the new key already

        world.clock.ms = block_ts + GRACE_MS // 2  # restarted half-way through the half
        fresh = await nodes.restart()
        assert fresh.kid == new_kid  # its entries and checkpoints: the new key
        key, kid = fresh.peer_signer
        assert kid == old_kid
        assert key.private_numbers() == old_key.private_numbers()
        # --finish moves the old key to keys/retired/: a restart still holds it and gives it.
        assert finish(world.settings, fresh.store, world.clock.s)
        fresh = await nodes.restart()
        assert fresh.peer_signer[1] == old_kid
        world.clock.ms = switch_at - 1
        assert fresh.peer_signer[1] == old_kid
        world.clock.ms = switch_at
        assert fresh.peer_signer[1] == new_kid

        world.clock.ms = switch_at + 1
        assert (await nodes.restart()).peer_signer[1] == new_kid

    _run(world, scenario)


def test_a_compromised_key_goes_to_no_peer_after_the_commit(tmp_path: Path) -> None:
    world = World(tmp_path)

    async def scenario(nodes: Nodes) -> None:
        ledger = await nodes.start()
        body = begin_signing(world.settings, utcnow(), compromised=True)
        new_kid = Kid(body["add_signing_key"]["kid"])
        await world.commit_update(ledger, body)
        assert ledger.peer_signer[1] == new_kid  # peers refuse the old key from the commit on
        assert (await nodes.restart()).peer_signer[1] == new_kid

    _run(world, scenario)


def test_with_keep_old_peers_get_the_old_key_until_half_an_overlap_after_its_retirement(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)

    async def scenario(nodes: Nodes) -> None:
        ledger = await nodes.start()
        old_kid = ledger.kid
        body = begin_signing(world.settings, utcnow(), retire_old=False)
        new_kid = Kid(body["add_signing_key"]["kid"])
        await world.commit_update(ledger, body)
        assert ledger.kid == new_kid
        world.clock.advance(3600)  # no end while the ledger holds the old key active
        assert ledger.peer_signer[1] == old_kid
        ledger = await nodes.restart()
        assert ledger.peer_signer[1] == old_kid

        retire = {"org": "hospital-a", "retire_kid": old_kid}
        block_ts = await world.commit_update(ledger, retire)
        world.clock.ms = block_ts + GRACE_MS - 1
        assert ledger.peer_signer[1] == old_kid
        world.clock.ms = block_ts + GRACE_MS
        assert ledger.peer_signer[1] == new_kid
        world.clock.ms = block_ts + GRACE_MS - 1  # a restart reads the same time
        ledger = await nodes.restart()
        assert ledger.peer_signer[1] == old_kid
        world.clock.ms = block_ts + GRACE_MS
        assert ledger.peer_signer[1] == new_kid

    _run(world, scenario)
