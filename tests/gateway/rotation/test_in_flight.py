"""An entry of the member's own, signed with its old key while its rotation was in flight, is
committed KEY_RETIRED; it is signed again with the new key, and that one is returned: by
``record_committed`` (consents) and by ``record`` (a release's access.record), which waits for the
commit while a rotation of the node's key is pending, so the release names the entry that reached
state.

Deterministic: the node cuts no block by itself (``cut_after`` an hour); the test orders the
update, lets ``record_committed`` sign with the old key and order its entry behind it, and only
then publishes cut markers, so the update and the entry land in one block in that order."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

from gateway.clock import now_ms, utcnow
from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.identity.files import load_private_key
from gateway.identity.rotation import begin_signing
from gateway.runtime import open_ledger
from gateway.services.ledger import LedgerService
from gateway.settings import Settings
from ledger.entries import decode_entry, encode_cut, make_tx, nonce_from_bytes, sign_entry, tx_id_of
from ledger.ids import OrgId
from ledger.signing import kid_of
from ledger.storage.base import StoredEntry
from ledger.validation.codes import ValidationCode as C
from tests.e2e.gateways import free_base_port
from tests.gateway.audit.harness import access_body

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("insurer-b", "insurer"),
    MemberSpec("agency-c", "agency"),
]
POLLS = 1000  # x 10 ms


async def _cut_markers(ledger: LedgerService, stop: asyncio.Event) -> None:
    """What a node's timer does, driven by the test: a marker after the last position."""
    while not stop.is_set():
        after = await ledger.ordering.last_position()
        await ledger.ordering.submit(encode_cut(ledger.org, after), f"cut:{after}")
        await asyncio.sleep(0.01)


async def _scenario(root: Path) -> None:
    created = create_consortium(root, "in flight", MEMBERS, base_port=free_base_port(len(MEMBERS)))
    settings = Settings.load(created.members[0].config)
    ledger = await open_ledger(settings, cut_after=3600.0, clock_ms=now_ms)
    await ledger.start()
    try:
        old_kid = ledger.kid
        body = begin_signing(settings, utcnow())
        new_kid = body["add_signing_key"]["kid"]
        old = ledger.signing_key
        endorser = load_private_key(root / "agency-c" / "keys" / "signing.key")
        nonce = nonce_from_bytes(secrets.token_bytes(16))
        tx = make_tx("member.update", OrgId("hospital-a"), old_kid, now_ms(), nonce, body)
        update = sign_entry(tx, old, {OrgId("agency-c"): endorser}), tx_id_of(tx)
        first = await ledger.ordering.last_position()
        await ledger.ordering.submit(*update)

        record = access_body("insurer-b", "insurer", "hospital-a", "B" * 43)
        writing = asyncio.create_task(ledger.record_committed("access.record", record))
        released = access_body("insurer-b", "insurer", "hospital-a", "C" * 43)
        releasing = asyncio.create_task(ledger.record("access.record", released))
        for _ in range(POLLS):  # both entries signed with the old key are behind the update
            if await ledger.ordering.last_position() >= first + 3:
                break
            await asyncio.sleep(0.01)
        assert ledger.kid == old_kid  # nothing committed yet: still the old key
        assert not releasing.done()  # a release waits for its record's commit meanwhile
        stop = asyncio.Event()
        cutting = asyncio.create_task(_cut_markers(ledger, stop))
        try:
            entry = await asyncio.wait_for(writing, 30)
            recorded = await asyncio.wait_for(releasing, 30)
            again = await ledger.committer.wait_committed(recorded.tx_id, 30)
        finally:
            stop.set()
            await cutting
        assert entry.code == C.VALID
        assert decode_entry(entry.leaf).tx["kid"] == new_kid == ledger.kid
        at = ledger.store.entry_by_tx(update[1])
        assert at is not None
        committed = ledger.store.entries(at.index, 3)
        kinds = [
            (decode_entry(e.leaf).type, decode_entry(e.leaf).tx["kid"], e.code) for e in committed
        ]
        assert kinds == [
            ("member.update", old_kid, C.VALID),
            ("access.record", old_kid, C.KEY_RETIRED),
            ("access.record", old_kid, C.KEY_RETIRED),
        ]
        assert entry.index > at.index + 2  # signed again, ordered after the switch
        assert kid_of(ledger.signing_key.public_key()) == new_kid
        # The release's record was signed again, and ``record`` returned that entry: the tx id
        # the release names is the one that reached state, not the KEY_RETIRED one.
        assert again.code == C.VALID
        assert again.index > at.index + 2
        assert decode_entry(again.leaf).tx["kid"] == new_kid
        assert decode_entry(again.leaf).tx["body"] == released
        retired = [e for e in committed[1:] if decode_entry(e.leaf).tx["body"] == released]
        assert len(retired) == 1
        assert retired[0].code == C.KEY_RETIRED
        assert retired[0].tx_id != recorded.tx_id
        assert _valid_record_of(ledger, released, after=at.index) == again
    finally:
        await ledger.stop()


def _valid_record_of(ledger: LedgerService, body: dict[str, Any], after: int) -> StoredEntry | None:
    head = ledger.store.head()
    count = 0 if head is None else head.tree_size - after - 1
    for entry in ledger.store.entries(after + 1, count):
        decoded = decode_entry(entry.leaf)
        if entry.code == C.VALID and decoded.type == "access.record" and decoded.tx["body"] == body:
            return entry
    return None


def test_an_own_entry_in_flight_with_the_old_key_is_signed_again(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))
