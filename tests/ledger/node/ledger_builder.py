"""Build a real multi-block ledger store for tests: a consortium, member nodes, signed entries."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.demo.consortium import open_member, patient_key
from gateway.demo.samples import access_body
from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.identity.pseudonym import patient_ref
from ledger.blocks import BlockHeader
from ledger.storage.sql import SqlStore

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("insurer-b", "insurer"),
    MemberSpec("agency-c", "agency"),
]


def consent_body(consent_id: str, ref: str) -> dict[str, object]:
    return {
        "consent_id": consent_id,
        "patient_ref": ref,
        "grantee": {"org": "insurer-b"},
        "purposes": ["HPAYMT"],
        "resource_types": ["Claim", "Coverage"],
        "period": {},
        "consent_digest": hashlib.sha256(consent_id.encode()).hexdigest(),
    }


async def build_ledger(root: Path, blocks: int = 6) -> Path:
    """Create a consortium under ``root`` and commit ``blocks`` blocks on hospital-a's node, each
    with a consent grant and access records. Returns the path of hospital-a's ledger database."""
    create_consortium(root, "test", MEMBERS)
    node = open_member(root, "hospital-a", "hospital", cut_after=0.01)
    await node.ledger.start()
    ref = patient_ref(patient_key(root, "hospital-a"), "urn:mrn", "p-1")
    try:
        for n in range(blocks):
            await node.ledger.record("consent.grant", consent_body(f"c-{n}", ref))
            await node.ledger.record(
                "access.record", access_body("insurer-b", "hospital-a", ref, n)
            )
            await node.ledger.record_committed(
                "access.record", access_body("insurer-b", "hospital-a", ref, 1000 + n)
            )
    finally:
        await node.ledger.stop()
    return root / "hospital-a" / "data" / "ledger.db"


@contextmanager
def built_store(root: Path, blocks: int) -> Iterator[SqlStore]:
    """A real SQLite ledger store of ``blocks`` committed blocks (``build_ledger``), open."""
    store = SqlStore(f"sqlite:///{asyncio.run(build_ledger(root, blocks=blocks))}")
    try:
        yield store
    finally:
        store.close()


def block_at(store: SqlStore, height: int) -> BlockHeader:
    """The stored header at ``height``; the test fails if there is none."""
    header = store.block(height)
    assert header is not None
    return header
