"""The rollback guard across a signing-key rotation: this member's checkpoints on the checkpoint
stream are its own under every key it signed them with (the next key before ``--finish``, a
retired one after), so a store and record file restored to before the rotation are still found
behind; never under a key the ledger marks compromised, nor another member's.

Real parts: the member's ledger node, checkpointer and rollback guard as ``medgate serve`` wires
them (gateway.runtime), a SQLite store restored from a backup copy, the solo checkpoint stream.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.clock import now_ms, utcnow
from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.identity.files import load_private_key
from gateway.identity.rotation import begin_signing, finish
from gateway.identity.signing_ring import SigningRing
from gateway.runtime import open_checkpoints, open_ledger, open_rollback_guard
from gateway.services.ledger import LedgerService
from gateway.services.watermark import OwnKey, RollbackGuard, own_keys, own_latest
from gateway.settings import Settings
from ledger.checkpoint import Checkpoint, decode_checkpoint
from ledger.checkpoint.signed import sign_checkpoint
from ledger.entries import make_tx, nonce_from_bytes, sign_entry, tx_id_of
from ledger.ids import ConsortiumId, Digest, Kid, OrgId
from ledger.ordering.solo import SoloOrdering
from ledger.signing import generate_signing_key, kid_of
from ledger.state import member
from ledger.storage.sql import SqlStore
from ledger.validation.codes import ValidationCode as C
from tests.e2e.gateways import free_base_port
from tests.e2e.member_ops import restore, snapshot
from tests.gateway.audit.harness import access_body

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("insurer-b", "insurer"),
    MemberSpec("agency-c", "agency"),
]
HOSPITAL = OrgId("hospital-a")


class Member:
    """hospital-a's folder; ``running()`` starts its node, checkpointer and guard (a start)."""

    def __init__(self, root: Path) -> None:
        created = create_consortium(root, "rollback keys", MEMBERS, base_port=free_base_port(3))
        self.root = root
        self.settings = Settings.load(created.members[0].config)
        self.db = root / "hospital-a" / "data" / "ledger.db"
        self.stream = self.settings.ordering.solo_path.with_name("checkpoints.db")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[tuple[LedgerService, RollbackGuard]]:
        ledger = await open_ledger(self.settings, cut_after=0.01)
        checkpoints = await open_checkpoints(self.settings, ledger)
        guard = await open_rollback_guard(self.settings, ledger, checkpoints)
        await ledger.start()
        await checkpoints.start()
        try:
            yield ledger, guard
        finally:
            await checkpoints.stop()
            await ledger.stop()
            await checkpoints.close()
            await guard.flush()

    async def write(self, ledger: LedgerService, count: int) -> None:
        """``count`` records, each waited for, then one more: the node hears of blocks in order,
        so the checkpoint of every block before that last one is on the stream."""
        for _ in range(count + 1):
            body = access_body("insurer-b", "insurer", "hospital-a", secrets.token_urlsafe(32)[:43])
            assert (await ledger.record_committed("access.record", body)).code == C.VALID

    async def rotate(self, ledger: LedgerService, **kw: Any) -> Kid:
        """hospital-a's signing rotation, committed (endorsed by agency-c); the new kid."""
        body = begin_signing(self.settings, utcnow(), **kw)
        endorser = load_private_key(self.root / "agency-c" / "keys" / "signing.key")
        nonce = nonce_from_bytes(secrets.token_bytes(16))
        tx = make_tx("member.update", HOSPITAL, ledger.kid, now_ms(), nonce, body)
        leaf = sign_entry(tx, ledger.signing_key, {OrgId("agency-c"): endorser})
        await ledger.ordering.submit(leaf, tx_id_of(tx))
        assert (await ledger.committer.wait_committed(tx_id_of(tx), 30)).code == C.VALID
        await self.write(ledger, 0)
        assert ledger.kid == body["add_signing_key"]["kid"]
        return Kid(body["add_signing_key"]["kid"])

    async def own_on_stream(self) -> list[tuple[Kid, int]]:
        """(kid, height) of every hospital-a message on the checkpoint stream."""
        stream = SoloOrdering(self.stream)
        found = []
        try:
            last = await stream.last_position()
            async for message in stream.read(0):
                signed = decode_checkpoint(message.data)
                if signed.org == HOSPITAL:
                    found.append((signed.signature.kid, signed.cp.height))
                if message.position >= last:
                    break
        finally:
            await stream.close()
        return found


def test_a_store_restored_to_before_a_rotation_is_found_behind_under_the_next_key(
    tmp_path: Path,
) -> None:
    """Restarted before ``--finish``: signing.key is still the old key; every checkpoint past
    the rotation is signed with the next key, which the restored store does not list."""
    a = Member(tmp_path)
    record = a.settings.storage.watermark

    async def scenario() -> None:
        async with a.running() as (ledger, _):
            await a.write(ledger, 2)
        snapshot(a.db, tmp_path / "backup.db")
        shutil.copy(record, tmp_path / "record-backup.json")
        copy = SqlStore(f"sqlite:///{tmp_path / 'backup.db'}")
        restored_head = copy.head()
        copy.close()
        assert restored_head is not None

        async with a.running() as (ledger, guard):
            assert guard.problem is None
            new_kid = await a.rotate(ledger)
            await a.write(ledger, 2)
        on_stream = await a.own_on_stream()
        assert any(kid == new_kid and h > restored_head.height for kid, h in on_stream)
        assert max(h for kid, h in on_stream if kid != new_kid) <= restored_head.height

        # The whole data folder restored: the store and the record file both from the backup.
        restore(tmp_path / "backup.db", a.db)
        shutil.copy(tmp_path / "record-backup.json", record)
        async with a.running() as (_, guard):
            assert guard.problem is not None
            assert "behind" in guard.problem

    asyncio.run(scenario())


CONSORTIUM = ConsortiumId("ab" * 32)


def _signed(
    key: ec.EllipticCurvePrivateKey, height: int, size: int, org: OrgId = HOSPITAL
) -> bytes:
    cp = Checkpoint(CONSORTIUM, height, Digest(f"{height:064x}"), size, Digest("0" * 64))
    return sign_checkpoint(cp, org, key).encode()


def test_own_checkpoints_are_those_under_any_of_its_keys_within_their_bounds(
    tmp_path: Path,
) -> None:
    """Two rotations, ``--finish`` after the first: key 1 retired (its file in keys/retired/),
    key 2 retired as compromised (still signing.key: the second rotation is not finished), key
    3 active (signing.next.key). Checkpoints under key 1 are still this member's own, up to the
    position of the entry that retired it; none under key 2, another member's, or a stranger's."""
    a = Member(tmp_path)
    keys_dir = a.root / "hospital-a" / "keys"

    async def scenario() -> tuple[dict[Kid, OwnKey], int]:
        async with a.running() as (ledger, _):
            await a.rotate(ledger)
            assert finish(a.settings, ledger.store, now_ms() // 1000)
            await a.rotate(ledger, compromised=True)
        state = SqlStore(f"sqlite:///{a.db}")
        try:
            held = SigningRing(a.settings.keys.signing_key).public_keys()
            assert len(held) == 3
            keys = own_keys(state, HOSPITAL, held)
            record = member(state, HOSPITAL)
            assert record is not None
            retired = [k for k in record.signing_keys if not k.is_active and not k.compromised]
            assert len(retired) == 1
            index = retired[0].retired_index
            assert index is not None
            return keys, index
        finally:
            state.close()

    keys, bound = asyncio.run(scenario())
    first = load_private_key(next((keys_dir / "retired").glob("signing-*.key")))
    second = load_private_key(keys_dir / "signing.key")
    third = load_private_key(keys_dir / "signing.next.key")
    assert set(keys) == {kid_of(first.public_key()), kid_of(third.public_key())}
    assert keys[kid_of(first.public_key())].max_tree_size == bound
    assert keys[kid_of(third.public_key())].max_tree_size is None
    stranger = generate_signing_key()
    other = load_private_key(a.root / "insurer-b" / "keys" / "signing.key")

    async def latest(*messages: bytes) -> int | None:
        """The height of our latest checkpoint among ``messages`` on a fresh stream."""
        stream = SoloOrdering(tmp_path / "stream.db")
        try:
            for i, raw in enumerate(messages):
                await stream.submit(raw, f"m:{i}")
            found = await own_latest(stream, HOSPITAL, keys, CONSORTIUM)
            return None if found is None else found.height
        finally:
            await stream.close()
            (tmp_path / "stream.db").unlink()

    within = asyncio.run(latest(_signed(first, 3, bound - 1), _signed(first, 4, bound)))
    assert within == 4  # the retired key, within its bound
    mixed = asyncio.run(
        latest(
            _signed(first, 3, bound),
            _signed(first, 9, bound + 1),  # past its retirement: not ours
            _signed(second, 10, bound + 2),  # compromised: whoever holds it is not us
            _signed(stranger, 11, bound + 3),
            _signed(other, 12, bound + 4),  # insurer-b's key, claimed as ours
            _signed(other, 13, bound + 5, OrgId("insurer-b")),
        )
    )
    assert mixed == 3
    in_use = asyncio.run(latest(_signed(first, 3, bound), _signed(third, 20, bound + 9)))
    assert in_use == 20  # the key in use
