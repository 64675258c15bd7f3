"""Hand-built BlockWrites for the store conformance suite (the real block builder is not needed)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ledger.blocks import GENESIS_PREV_HASH, BlockHeader, codes_digest
from ledger.ids import Digest, TxId
from ledger.statekv import StateChange
from ledger.storage.base import BlockWrite, NodeId, StoredEntry


def fake_digest(label: str) -> Digest:
    return Digest(hashlib.sha256(label.encode()).hexdigest())


def fake_node(level: int, index: int) -> tuple[NodeId, bytes]:
    return NodeId(level, index), hashlib.sha256(f"node {level} {index}".encode()).digest()


def entry(index: int, height: int, *, tx: str | None = None, code: int = 0) -> StoredEntry:
    leaf = f'{{"entry":{index}}}'.encode()
    return StoredEntry(index, TxId(fake_digest(tx or f"tx {index}")), leaf, code, height)


def block_after(
    prev: BlockHeader | None,
    entries: Sequence[StoredEntry] | int = 1,
    *,
    changes: Sequence[StateChange] = (),
    nodes: Sequence[tuple[NodeId, bytes]] | None = None,
    position: int | None = None,
    height: int | None = None,
) -> BlockWrite:
    """The block following ``prev`` (genesis when None). ``entries`` may be a count of plain ones.
    Default nodes: the level-0 node of every entry (plausible, not a real Merkle frontier)."""
    h = (0 if prev is None else prev.height + 1) if height is None else height
    first = 0 if prev is None else prev.tree_size
    if isinstance(entries, int):
        entries = [entry(first + i, h) for i in range(entries)]
    count = len(entries)
    header = BlockHeader(
        height=h,
        prev_hash=GENESIS_PREV_HASH if prev is None else prev.hash(),
        first_index=first,
        count=count,
        tree_size=first + count,
        tree_root=fake_digest(f"root {first + count}"),
        ts=1_700_000_000_000 + h,
        codes_digest=codes_digest([e.code for e in entries]),
    )
    if nodes is None:
        nodes = [fake_node(0, e.index) for e in entries]
    pos = (0 if prev is None else 10 * h) if position is None else position
    return BlockWrite(header, list(entries), list(nodes), list(changes), pos)


def put(ns: str, key: str, value: bytes) -> StateChange:
    return StateChange(ns, key, value)


def drop(ns: str, key: str) -> StateChange:
    return StateChange(ns, key, None)
