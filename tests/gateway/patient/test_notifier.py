"""The notifier alone: which committed entries make a notification (valid access records with
break-glass or notify-patient, about a patient this member holds), once per access; and a store
that fails does not stop the ledger node (the listener logs the block and returns)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.services.notifications import Notifier, notification_of
from gateway.store.notifications import NotificationTable
from ledger.blocks import BlockHeader
from ledger.entries import make_tx, nonce_from_bytes, sign_entry, tx_id_of
from ledger.ids import Digest, OrgId
from ledger.signing import kid_of
from ledger.storage.base import BlockWrite, StoredEntry
from tests.gateway.audit.harness import access_body

KEY = ec.generate_private_key(ec.SECP256R1())
HELD, OTHER = "R" * 43, "S" * 43


def entry(body: dict[str, Any], type_: str = "access.record", code: int = 0) -> StoredEntry:
    nonce = nonce_from_bytes(secrets.token_bytes(16))
    tx = make_tx(
        type_, OrgId("insurer-b"), kid_of(KEY.public_key()), 1_700_000_000_000, nonce, body
    )
    return StoredEntry(index=1, tx_id=tx_id_of(tx), leaf=sign_entry(tx, KEY), code=code, height=1)


def urgent(ref: str = HELD, **kw: Any) -> dict[str, Any]:
    return access_body("hospital-a", "hospital", "insurer-b", ref, purpose="ETREAT", **kw)


@pytest.fixture
def table(tmp_path: Path) -> NotificationTable:
    return NotificationTable(sa.create_engine(f"sqlite:///{tmp_path / 'n.db'}"))


def test_only_urgent_accesses_to_held_patients_are_notified(table: NotificationTable) -> None:
    notifier = Notifier(table, holds=lambda ref: ref == HELD, name_of=lambda org: f"<{org}>")
    glass = entry(urgent(break_glass=True))
    asked = entry(urgent(obligations=["audit", "notify-patient"]))
    made = notifier.take(
        [
            glass,
            asked,
            entry(urgent()),  # neither break-glass nor notify-patient
            entry(urgent(OTHER, break_glass=True)),  # a patient held elsewhere
            entry(urgent(break_glass=True), code=3),  # invalid: changes nothing
            entry({"consent_id": "c-1"}, type_="consent.revoke"),
            glass,  # the same access again (a replayed block)
        ]
    )
    assert made == 2
    notes = {n.id: n for n in table.for_patient(HELD)}
    assert set(notes) == {glass.tx_id, asked.tx_id}
    assert notes[glass.tx_id].kind == "break-glass"
    assert notes[asked.tx_id].kind == "notify-patient"
    assert notes[glass.tx_id].requester_name == "<hospital-a>"
    assert notes[glass.tx_id].at_ms == 1_700_000_000_000
    assert notification_of(entry(urgent()), str) is None


def test_a_failing_store_does_not_stop_the_ledger(
    table: NotificationTable, caplog: pytest.LogCaptureFixture
) -> None:
    def down(_: str) -> bool:
        raise OSError("database unreachable")

    notifier = Notifier(table, holds=down, name_of=str)
    zero = Digest("0" * 64)
    header = BlockHeader(7, zero, 1, 1, 2, zero, 0, zero)
    block = BlockWrite(header, [entry(urgent(break_glass=True))], [], [], 1)
    with caplog.at_level(logging.ERROR):
        asyncio.run(notifier.on_block(block))
    assert "notifications of block 7 not stored: OSError" in caplog.text
