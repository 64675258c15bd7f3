"""ledger.standing.compare on a real multi-block store: current, ahead, behind, forked."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from ledger.blocks import BlockHeader
from ledger.checkpoint import Checkpoint
from ledger.ids import ConsortiumId, Digest
from ledger.merkle import consistency_proof
from ledger.standing import Standing, compare
from ledger.storage.sql import SqlStore
from tests.ledger.node.ledger_builder import block_at, built_store

CONSORTIUM = ConsortiumId("ab" * 32)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    with built_store(tmp_path_factory.mktemp("standing"), blocks=4) as opened:
        yield opened


def _cp(header: BlockHeader) -> Checkpoint:
    return Checkpoint.of(CONSORTIUM, header)


def _head(store: SqlStore) -> BlockHeader:
    head = store.head()
    assert head is not None
    return head


def test_the_head_itself_is_current(store: SqlStore) -> None:
    head = _head(store)
    assert compare(store, head, _cp(head)).standing is Standing.CURRENT


def test_an_older_block_of_ours_means_ahead(store: SqlStore) -> None:
    assert compare(store, _head(store), _cp(block_at(store, 2))).standing is Standing.AHEAD


def test_another_block_at_a_height_we_hold_is_a_fork(store: SqlStore) -> None:
    other = dataclasses.replace(_cp(block_at(store, 2)), block_hash=Digest("0" * 64))
    found = compare(store, _head(store), other)
    assert found.standing is Standing.FORKED
    assert "block 2" in found.problem


def test_a_later_checkpoint_that_extends_our_log_means_behind(store: SqlStore) -> None:
    early, head = block_at(store, 2), _head(store)

    def proof(first: int, second: int) -> list[bytes]:
        return consistency_proof(first, second, store.nodes)

    found = compare(store, early, _cp(head), proof)
    assert found.standing is Standing.BEHIND
    assert (found.height, found.reference_height) == (2, head.height)
    assert compare(store, early, _cp(head)).standing is Standing.BEHIND  # no proof asked


def test_a_later_checkpoint_that_does_not_extend_our_log_is_a_fork(store: SqlStore) -> None:
    early, head = block_at(store, 2), _head(store)

    def bad_proof(first: int, second: int) -> list[bytes]:
        hashes = consistency_proof(first, second, store.nodes)
        return [bytes([hashes[0][0] ^ 1]) + hashes[0][1:], *hashes[1:]]

    assert compare(store, early, _cp(head), bad_proof).standing is Standing.FORKED
    shrunk = dataclasses.replace(_cp(head), tree_size=early.tree_size - 1)
    assert compare(store, early, shrunk).standing is Standing.FORKED
