"""The rollback guard's record (file 0600, never lowered) and its verdicts on a real store."""

from __future__ import annotations

import asyncio
import dataclasses
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.services.watermark import RollbackGuard, Watermark, WatermarkError, load_watermark
from ledger.blocks import BlockHeader
from ledger.checkpoint import Checkpoint
from ledger.ids import ConsortiumId, Digest
from ledger.storage.base import BlockWrite
from ledger.storage.sql import SqlStore
from tests.ledger.node.ledger_builder import block_at, built_store

CONSORTIUM = ConsortiumId("cd" * 32)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    with built_store(tmp_path_factory.mktemp("watermark"), blocks=3) as opened:
        yield opened


def _write(header: BlockHeader) -> BlockWrite:
    return BlockWrite(header, [], [], [], 0)


def test_a_missing_record_is_empty_and_a_malformed_one_refused(tmp_path: Path) -> None:
    assert load_watermark(tmp_path / "none.json") == Watermark()
    (tmp_path / "bad.json").write_text('{"v":2}')
    with pytest.raises(WatermarkError):
        load_watermark(tmp_path / "bad.json")


def test_blocks_raise_the_record_which_is_private_and_never_lowered(
    store: SqlStore, tmp_path: Path
) -> None:
    path = tmp_path / "data" / "ledger-watermark.json"
    guard = RollbackGuard(path, CONSORTIUM, Watermark())

    async def feed(*heights: int) -> None:
        for height in heights:
            await guard.on_block(_write(block_at(store, height)))
        await guard.flush()

    asyncio.run(feed(1, 3))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    asyncio.run(feed(2))  # a catch-up block, below the record
    signed = load_watermark(path).signed
    assert signed == Checkpoint.of(CONSORTIUM, block_at(store, 3))
    assert guard.problem is None


def test_a_store_below_the_record_is_refused(store: SqlStore, tmp_path: Path) -> None:
    record = Watermark(Checkpoint.of(CONSORTIUM, block_at(store, 3)))
    guard = RollbackGuard(tmp_path / "w.json", CONSORTIUM, record)
    assert guard.check(store, block_at(store, 3)) is None
    problem = guard.check(store, block_at(store, 1))
    assert problem is not None
    assert "behind" in problem
    assert "height 3" in problem


def test_a_block_other_than_the_one_signed_is_a_fork_and_sticks(
    store: SqlStore, tmp_path: Path
) -> None:
    signed = Checkpoint.of(CONSORTIUM, block_at(store, 2))
    guard = RollbackGuard(tmp_path / "w.json", CONSORTIUM, Watermark(signed))
    other = dataclasses.replace(block_at(store, 2), tree_root=Digest("1" * 64))
    asyncio.run(guard.on_block(_write(other)))
    assert guard.problem is not None
    assert "forked" in guard.problem
    asyncio.run(guard.on_block(_write(block_at(store, 3))))
    assert guard.problem is not None  # only an operator clears it
    assert guard.clear("checked") is not None
    assert guard.problem is None
