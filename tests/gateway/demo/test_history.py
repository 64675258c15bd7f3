"""The demo patient app's history check: a consistency proof between two checkpoints verifies,
and one altered, for other sizes or malformed does not."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.demo.proofs import check_history
from ledger.checkpoint import Checkpoint
from ledger.ids import ConsortiumId, Digest
from ledger.merkle import CompactTree, consistency_proof
from tests.ledger.merkle.support import DictStore, build_store, leaves

HASHES = leaves(13)
STORE = DictStore(build_store(HASHES), len(HASHES))


def checkpoint(size: int) -> Checkpoint:
    tree = CompactTree()
    tree.extend(HASHES[:size])
    root = Digest(tree.root().hex())
    return Checkpoint(ConsortiumId("c" * 64), size, Digest("b" * 64), size, root)


def proof(first: int, second: int) -> dict[str, Any]:
    hashes = [h.hex() for h in consistency_proof(first, second, STORE.nodes)]
    return {"from": first, "to": second, "hashes": hashes}


@pytest.mark.parametrize(("first", "second"), [(1, 13), (6, 13), (8, 13), (13, 13)])
def test_a_true_proof_is_consistent(first: int, second: int) -> None:
    ok, said = check_history(checkpoint(first), checkpoint(second), proof(first, second))
    assert ok, said
    assert f"checkpoint of {second} entries and the one of {first} seen before" in said


def test_a_flipped_byte_other_sizes_or_garbage_are_not() -> None:
    older, newer = checkpoint(6), checkpoint(13)
    flipped = proof(6, 13)
    first = bytes.fromhex(flipped["hashes"][0])
    flipped["hashes"][0] = bytes([first[0] ^ 1, *first[1:]]).hex()
    for bad in (
        flipped,
        proof(5, 13),
        {**proof(6, 13), "hashes": ["zz"]},
        {"from": 6, "to": 13},
        None,
    ):
        ok, said = check_history(older, newer, bad)
        assert not ok, bad
        assert said.startswith("HISTORY NOT PROVEN between the checkpoint of 13 entries"), said
