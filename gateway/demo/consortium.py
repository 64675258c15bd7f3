"""An embedded consortium for the demo and for tests: every member's ledger node in one process.

Each member keeps its own SQLite ledger store; all share the embedded `solo` ordering file, exactly as
separate gateway processes on one machine would.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from gateway.clock import now_ms
from gateway.identity.files import load_private_key
from gateway.identity.pseudonym import load_patient_key
from gateway.services.ledger import LedgerService
from ledger.ids import OrgId
from ledger.ordering.solo import SoloOrdering
from ledger.storage.sql import SqlStore


@dataclass(slots=True)
class MemberNode:
    org: OrgId
    role: str
    folder: Path
    ledger: LedgerService


def open_member(root: Path, org: str, role: str, *, cut_after: float = 0.02) -> MemberNode:
    folder = root / org
    store = SqlStore(f"sqlite:///{folder / 'data' / 'ledger.db'}")
    ordering = SoloOrdering(root / "consortium" / "ordering.db")
    service = LedgerService(
        OrgId(org),
        load_private_key(folder / "keys" / "signing.key"),
        store,
        ordering,
        (root / "consortium" / "genesis.json").read_bytes(),
        clock_ms=now_ms,
        cut_after=cut_after,
    )
    return MemberNode(OrgId(org), role, folder, service)


def patient_key(root: Path, org: str) -> bytes:
    return load_patient_key((root / org / "keys" / "patient.key").read_bytes())


async def wait_until_height(nodes: list[MemberNode], tree_size: int, timeout: float = 30.0) -> None:
    """Wait until every node's store holds ``tree_size`` log entries (bounded by ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        sizes = [node.ledger.committer.head.tree_size for node in nodes]
        if all(size >= tree_size for size in sizes):
            return
        if loop.time() > deadline:
            raise TimeoutError(f"nodes did not reach tree size {tree_size}: {sizes}")
        await asyncio.sleep(0.02)
