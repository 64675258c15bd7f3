"""Block cutting comes from the stream alone: markers (a second one is a no-op) and the 500 cap."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from gateway.clock import now_ms
from gateway.demo.samples import access_body
from gateway.identity.files import load_private_key
from gateway.services.ledger import LedgerService
from ledger.blockbuild import MAX_BLOCK_ENTRIES
from ledger.entries import encode_cut, make_tx, nonce_from_bytes, sign_entry, tx_id_of
from ledger.genesis import consortium_id
from ledger.ids import OrgId
from ledger.ordering.nats import NatsOrdering
from ledger.signing import kid_of
from ledger.storage.sql import SqlStore
from tests.support.nats_cluster import NatsCluster

pytestmark = [pytest.mark.nats]

ORG = OrgId("hospital-a")
NEVER = 3600.0
"""cut_after for nodes under test: their own ticker never publishes a marker."""


def signed_entries(root: Path, count: int) -> list[tuple[bytes, str]]:
    key = load_private_key(root / ORG / "keys" / "signing.key")
    out: list[tuple[bytes, str]] = []
    for n in range(count):
        nonce = nonce_from_bytes(secrets.token_bytes(16))
        body = access_body("insurer-b", ORG, f"patient-{n % 7}", n)
        tx = make_tx("access.record", ORG, kid_of(key.public_key()), now_ms(), nonce, body)
        out.append((sign_entry(tx, key), tx_id_of(tx)))
    return out


def marker(after: int) -> tuple[bytes, str]:
    return encode_cut(ORG, after), f"cut:{after}"


@asynccontextmanager
async def follower(
    root: Path, urls: list[str], stream_id: str, db: Path
) -> AsyncIterator[LedgerService]:
    """A member's node reading the stream ``stream_id`` into its own store."""
    genesis = (root / "consortium" / "genesis.json").read_bytes()
    ordering = await NatsOrdering.connect(urls, stream_id)
    key = load_private_key(root / ORG / "keys" / "signing.key")
    node = LedgerService(
        ORG, key, SqlStore(f"sqlite:///{db}"), ordering, genesis, clock_ms=now_ms, cut_after=NEVER
    )
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


async def until_read(
    node: LedgerService, position: int, height: int, timeout: float = 30.0
) -> None:
    """Bounded wait until the node's committer has read the stream up to ``position`` and committed
    block ``height`` (a block's message is read before its block is stored)."""
    async with asyncio.timeout(timeout):
        while (
            node.committer._builder.last_position < position or node.committer.head.height < height
        ):
            assert node.failure is None
            await asyncio.sleep(0.02)


async def publish(urls: list[str], stream_id: str, items: list[tuple[bytes, str]]) -> int:
    ordering = await NatsOrdering.connect(urls, stream_id)
    try:
        for data, key in items:  # one at a time: the stream order is the list order
            await ordering.submit(data, key)
        return await ordering.last_position()
    finally:
        await ordering.close()


def blocks(node: LedgerService) -> list[tuple[str, int, int]]:
    """(block hash, entries, stream position) of every block."""
    store = node.store
    assert isinstance(store, SqlStore)
    return [(h.hash(), h.count, pos) for h, _, pos in store.iter_blocks()]


async def test_a_marker_with_nothing_pending_changes_no_block(
    shared_cluster: NatsCluster, root: Path, tmp_path: Path
) -> None:
    urls = shared_cluster.client_urls
    cid = consortium_id((root / "consortium" / "genesis.json").read_bytes())
    e = signed_entries(root, 5)
    once = [*e[:3], marker(3), *e[3:], marker(6)]
    twice = [*e[:3], marker(3), marker(4), *e[3:], marker(7), marker(8)]
    assert await publish(urls, f"{cid}-once", once) == 7
    assert await publish(urls, f"{cid}-twice", twice) == 9
    async with (
        follower(root, urls, f"{cid}-once", tmp_path / "once.db") as one,
        follower(root, urls, f"{cid}-twice", tmp_path / "twice.db") as two,
    ):
        await until_read(one, 7, 2)
        await until_read(two, 9, 2)
        cut_once, cut_twice = blocks(one), blocks(two)
    # Same blocks, header for header; only the stream positions they were cut at differ.
    assert [(h, n) for h, n, _ in cut_once] == [(h, n) for h, n, _ in cut_twice]
    assert [n for _, n, _ in cut_once] == [1, 3, 2]
    assert [p for _, _, p in cut_once] == [0, 4, 7]
    assert [p for _, _, p in cut_twice] == [0, 4, 8]


async def test_a_full_batch_closes_a_block_without_any_marker(
    shared_cluster: NatsCluster, root: Path, tmp_path: Path
) -> None:
    urls = shared_cluster.client_urls
    stream_id = f"{consortium_id((root / 'consortium' / 'genesis.json').read_bytes())}-full"
    extra = 100
    entries = signed_entries(root, 2 * MAX_BLOCK_ENTRIES + extra)
    ordering = await NatsOrdering.connect(urls, stream_id)
    try:
        await ordering.submit_many(entries)
    finally:
        await ordering.close()
    async with follower(root, urls, stream_id, tmp_path / "full.db") as node:
        await until_read(node, len(entries), 2)
        assert [n for _, n, _ in blocks(node)] == [1, MAX_BLOCK_ENTRIES, MAX_BLOCK_ENTRIES]
        assert node.committer._builder.pending == extra  # waiting for a marker
        await publish(urls, stream_id, [marker(len(entries))])
        await until_read(node, len(entries) + 1, 3)
        assert [n for _, n, _ in blocks(node)] == [1, MAX_BLOCK_ENTRIES, MAX_BLOCK_ENTRIES, extra]
        assert node.committer.head.tree_size == 1 + len(entries)
