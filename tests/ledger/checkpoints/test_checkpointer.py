"""Three real gateways (SqlStore on SQLite, real Committers, SoloOrdering logs) exchanging checkpoints
on a shared SoloOrdering checkpoint stream, one of them fed a divergent history."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ledger.blockbuild import genesis_block
from ledger.blocks import BlockHeader
from ledger.checkpoint import (
    Checkpoint,
    Divergence,
    DivergenceKind,
    electorate_of,
    sign_checkpoint,
    verify_cosigned,
)
from ledger.entries import EntryType, encode_cut, make_tx, nonce_from_bytes, sign_entry
from ledger.genesis import build_genesis, consortium_id, member_record
from ledger.ids import ConsortiumId, OrgId
from ledger.node.checkpointer import Checkpointer
from ledger.node.committer import Committer
from ledger.ordering.solo import SoloOrdering
from ledger.signing import generate_signing_key, kid_of
from ledger.state.membership import key_resolver
from ledger.statekv import MemoryState
from ledger.storage.sql import SqlStore
from tests.ledger.checkpoints.support import A, B, C

ROLES = {A: "hospital", B: "insurer", C: "agency"}
WAIT_STEPS = 1000
STEP_S = 0.02
"""Conditions are polled at most WAIT_STEPS times (a bound, not a timing assertion)."""


@dataclass
class Gateway:
    org: OrgId
    store: SqlStore
    ordering: SoloOrdering
    stream: SoloOrdering
    committer: Committer
    checkpointer: Checkpointer


def consent_leaf(key: ec.EllipticCurvePrivateKey, n: int, variant: str = "") -> bytes:
    consent_id = f"c-{n}{variant}"
    body = {
        "consent_id": consent_id,
        "patient_ref": hashlib.sha256(b"patient").hexdigest()[:43],
        "grantee": {"org": B},
        "purposes": ["HPAYMT"],
        "resource_types": ["Claim"],
        "period": {},
        "consent_digest": hashlib.sha256(consent_id.encode()).hexdigest(),
    }
    nonce = nonce_from_bytes(hashlib.sha256(consent_id.encode()).digest()[:16])
    tx = make_tx(
        EntryType.CONSENT_GRANT, A, kid_of(key.public_key()), 1_700_000_001_000 + n, nonce, body
    )
    return sign_entry(tx, key)


async def append_block(log: SoloOrdering, leaf: bytes) -> None:
    """One entry and the cut marker after it: a block of exactly that entry on every reader."""
    position = await log.submit(leaf, hashlib.sha256(leaf).hexdigest())
    await log.submit(encode_cut(A, position), f"cut:{position}")


def header(store: SqlStore, height: int) -> BlockHeader:
    found = store.block(height)
    assert found is not None
    return found


async def eventually(condition: Callable[[], bool]) -> None:
    for _ in range(WAIT_STEPS):
        if condition():
            return
        await asyncio.sleep(STEP_S)
    raise AssertionError("condition not reached")


@pytest.fixture
async def consortium(
    tmp_path: Path,
) -> AsyncIterator[tuple[ConsortiumId, dict[OrgId, Gateway], dict[OrgId, Any]]]:
    keys = {org: generate_signing_key() for org in ROLES}
    records = [
        member_record(org, role, org.title(), f"https://{org}.test", [keys[org].public_key()])
        for org, role in ROLES.items()
    ]
    policy = {"version": "v1", "digest": "a" * 64}
    nonce = nonce_from_bytes(bytes(16))
    leaf = build_genesis(
        "test", records, {"rule": "MAJORITY"}, policy, 1_700_000_000_000, nonce, keys
    )
    consortium = consortium_id(leaf)
    genesis = genesis_block(leaf, key_resolver(MemoryState()))
    executor = ThreadPoolExecutor(2)
    gateways: dict[OrgId, Gateway] = {}
    tasks: list[asyncio.Task[None]] = []
    for org in ROLES:
        store = SqlStore(f"sqlite:///{tmp_path / org}.db")
        store.append(genesis)
        # C follows its own log: the same ordered entries up to the point where its history forks.
        ordering = SoloOrdering(tmp_path / ("fork.db" if org == C else "ordering.db"))
        stream = SoloOrdering(tmp_path / "checkpoints.db")
        committer = Committer(org, store, ordering, executor=executor, cut_after=3600)
        checkpointer = Checkpointer(org, keys[org], store, stream, consortium)
        committer.on_block(checkpointer.on_block)
        await checkpointer.publish_head()
        tasks += [asyncio.create_task(committer.run()), asyncio.create_task(checkpointer.run())]
        gateways[org] = Gateway(org, store, ordering, stream, committer, checkpointer)
    yield consortium, gateways, keys
    # Close the logs first: their readers then end at their next poll, after the worker thread's
    # query returned. Cancelling a reader mid-query would close its SQLite connection under it.
    for gateway in gateways.values():
        gateway.committer.stop()
        await gateway.ordering.close()
        await gateway.stream.close()
    _, pending = await asyncio.wait(tasks, timeout=WAIT_STEPS * STEP_S)
    for task in pending:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert not pending
    for gateway in gateways.values():
        assert gateway.committer.failure is None
        gateway.store.close()
    executor.shutdown(wait=True)


async def test_the_divergent_gateway_alarms_while_the_others_finalise_and_flag_it(
    consortium: tuple[ConsortiumId, dict[OrgId, Gateway], dict[OrgId, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="medgate.ledger.checkpointer")
    cid, gw, keys = consortium
    main, fork = gw[A].ordering, gw[C].ordering
    for n in (1, 2, 3):
        leaf = consent_leaf(keys[A], n)  # signed once: ECDSA signatures differ at each signing
        await append_block(main, leaf)
        # Height 2 differs on C: another entry at the same place in its log.
        await append_block(fork, consent_leaf(keys[A], n, "-forged") if n == 2 else leaf)
    good, bad = gw[A].checkpointer, gw[C].checkpointer

    def settled() -> bool:
        return all(
            (final := gw[org].checkpointer.final()) is not None
            and final.height == 3
            and {f.height for f in gw[org].checkpointer.findings} == {2, 3}
            for org in (A, B)
        ) and {f.height for f in bad.findings} == {2, 3}

    await eventually(settled)

    # A and B agree on every block and finalise height 3 together; C is flagged, nobody alarms.
    for org in (A, B):
        me = gw[org].checkpointer
        final = me.final()
        assert final is not None
        assert final.cp == Checkpoint.of(cid, header(gw[org].store, 3))
        assert [s.org for s in final.signatures] == sorted([A, B])
        assert verify_cosigned(final, electorate_of(gw[org].store), cid) == final.cp
        assert me.outliers == {C}
        assert me.alarm is None
        assert me.metrics.final_height == 3
        assert me.metrics.checkpoint_mismatches == 2
    assert gw[A].store.block(1) == gw[C].store.block(1)
    assert gw[A].store.block(2) != gw[C].store.block(2)

    # C learns that a quorum signed another chain at height 2: it is the divergent one.
    alarm = bad.alarm
    assert isinstance(alarm, Divergence)
    assert (alarm.kind, alarm.height, alarm.orgs) == (DivergenceKind.LOCAL, 2, (A, B))
    assert alarm.ours.block_hash == gw[C].store.block_hash(2)
    assert alarm.theirs.block_hash == gw[A].store.block_hash(2)
    final = bad.final()
    assert final is not None
    assert final.height == 1
    assert bad.metrics.final_height == 1
    logged = [
        r for r in caplog.records if r.message == "checkpoint mismatch" and r.__dict__["org"] == C
    ]
    assert {r.levelname for r in logged} == {"ERROR"}
    assert logged[0].__dict__["checkpoint"]["kind"] == "local"

    # An operator clears it; the fork persists, so C's next block raises it again.
    assert bad.clear_alarm("investigating ticket 42") is alarm
    assert bad.alarm is None
    assert bad.metrics.alarms_cleared == 1
    leaf = consent_leaf(keys[A], 4)
    await append_block(main, leaf)
    await append_block(fork, leaf)
    await eventually(lambda: bad.alarm is not None and good.metrics.final_height == 4)
    assert isinstance(bad.alarm, Divergence)
    assert (bad.alarm.kind, bad.alarm.height) == (DivergenceKind.LOCAL, 4)


async def test_garbage_outsiders_and_forgeries_on_the_stream_are_counted_and_ignored(
    consortium: tuple[ConsortiumId, dict[OrgId, Gateway], dict[OrgId, Any]],
) -> None:
    cid, gw, keys = consortium
    stream = gw[A].stream
    genesis = Checkpoint.of(cid, header(gw[A].store, 0))
    outsider = sign_checkpoint(genesis, OrgId("intruder-x"), generate_signing_key())
    forged = sign_checkpoint(genesis, B, keys[A])  # A's key claiming to be B
    await stream.submit(b"not a checkpoint", "junk")
    await stream.submit(outsider.encode(), outsider.dedup_key())
    await stream.submit(forged.encode(), "forged")

    def counted() -> bool:
        return all(sum(g.checkpointer.metrics.rejected.values()) == 3 for g in gw.values())

    await eventually(counted)
    for gateway in gw.values():
        metrics = gateway.checkpointer.metrics
        assert dict(metrics.rejected) == {"malformed": 1, "unknown_key": 2}
        assert metrics.checkpoints_verified == 3  # the three members' genesis checkpoints
        assert metrics.final_height == 0
        assert gateway.checkpointer.alarm is None
