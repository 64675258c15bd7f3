"""A signed entry whose body holds the wrong JSON kind never stops a node: it gets its validation
code on every node, and the valid entries after it commit on every node."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ledger.blockbuild import genesis_block
from ledger.entries import encode_cut
from ledger.errors import LedgerError
from ledger.node.committer import Committer
from ledger.ordering.solo import SoloOrdering
from ledger.state.membership import key_resolver
from ledger.statekv import MemoryState, StateChange
from ledger.storage.sql import SqlStore
from ledger.validation import ValidationCode as C
from ledger.validation.access import access_record
from ledger.validation.context import Ctx
from ledger.validation.registry import REGISTRY
from tests.ledger.core.hostile import corpus
from tests.ledger.core.mutations import sample_bodies
from tests.ledger.core.world import HOSPITAL, INSURER, access_body, three_orgs

NODES = (HOSPITAL, INSURER)


async def _commit_everywhere(
    tmp_path: Path, leaves: list[bytes], genesis: bytes
) -> list[tuple[Committer, SqlStore]]:
    ordering = SoloOrdering(tmp_path / "ordering.db")
    await ordering.submit_many([(leaf, f"e{i}") for i, leaf in enumerate(leaves)])
    await ordering.submit(encode_cut(HOSPITAL, 0), "cut")
    out = []
    with ThreadPoolExecutor(2) as pool:
        for org in NODES:
            store = SqlStore(f"sqlite:///{tmp_path / f'{org}.db'}")
            store.append(genesis_block(genesis, key_resolver(MemoryState())))
            committer = Committer(org, store, ordering, executor=pool, cut_after=3600)
            run = asyncio.create_task(committer.run())
            for _ in range(1000):
                if run.done() or committer.head.tree_size == 1 + len(leaves):
                    break
                await asyncio.sleep(0.01)
            committer.stop()
            with contextlib.suppress(LedgerError):
                await asyncio.wait_for(run, 10)
            out.append((committer, store))
    await ordering.close()
    return out


async def test_a_list_where_a_decision_belongs_stops_no_node(tmp_path: Path) -> None:
    world, chain = three_orgs()
    hostile = world.entry("access.record", HOSPITAL, access_body(decision=[]))
    valid = [world.entry("access.record", HOSPITAL, access_body()) for _ in range(3)]
    nodes = await _commit_everywhere(tmp_path, [hostile, *valid], chain.leaves[0])
    for committer, store in nodes:
        assert committer.failure is None
        codes = [e.code for e in store.entries(1, 10)]
        assert codes == [C.BAD_BODY, C.VALID, C.VALID, C.VALID]
        store.close()
    assert len({committer.head.hash() for committer, _ in nodes}) == 1


async def test_a_validator_bug_is_counted_and_the_nodes_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule planted with a bug: its entry is VALIDATOR_FAULT on every node, each node counts it
    (the metric), and the entries after it commit."""
    world, chain = three_orgs()

    def buggy(ctx: Ctx) -> list[StateChange]:
        if ctx.entry.body["purpose"] == "BUG":
            raise KeyError("a bug")
        return access_record(ctx)

    spec = dataclasses.replace(REGISTRY["access.record"], rule=buggy)
    monkeypatch.setitem(REGISTRY, "access.record", spec)
    hostile = world.entry("access.record", HOSPITAL, access_body(purpose="BUG"))
    valid = [world.entry("access.record", HOSPITAL, access_body()) for _ in range(2)]
    nodes = await _commit_everywhere(tmp_path, [*valid[:1], hostile, *valid[1:]], chain.leaves[0])
    for committer, store in nodes:
        assert committer.failure is None
        assert [e.code for e in store.entries(1, 10)] == [C.VALID, C.VALIDATOR_FAULT, C.VALID]
        assert committer.validator_faults == 1
        store.close()
    assert len({committer.head.hash() for committer, _ in nodes}) == 1


async def test_a_hostile_corpus_gets_the_same_codes_on_every_node_and_in_the_core(
    tmp_path: Path,
) -> None:
    """150 fuzzed entries of every type, each followed by a valid one, through real committers
    (solo ordering, SQLite): no node stops, every node gives the codes the pure core gives, and
    every valid entry after a hostile one commits."""
    world, chain = three_orgs()
    hostile = corpus(world, sample_bodies(three_orgs()[0]), seed=14, size=150)
    leaves = []
    for leaf in hostile:
        leaves += [leaf, world.entry("access.record", HOSPITAL, access_body())]
    expected = [v.code for v in chain.block(leaves)]
    assert expected[1::2] == [C.VALID] * len(hostile)
    assert C.VALIDATOR_FAULT not in expected
    assert len(set(expected[0::2])) >= 4  # the corpus reaches several rules
    nodes = await _commit_everywhere(tmp_path, leaves, chain.leaves[0])
    states = []
    for committer, store in nodes:
        assert committer.failure is None
        assert [C(e.code) for e in store.entries(1, len(leaves))] == expected
        states.append(sorted(store.iter_state()))
        store.close()
    assert states[0] == states[1]
    assert len({committer.head.hash() for committer, _ in nodes}) == 1
