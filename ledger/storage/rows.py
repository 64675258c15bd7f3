"""Pure conversions between ledger values and table rows, and the key range of a prefix scan."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row

from ledger.blocks import BlockHeader
from ledger.ids import Digest, TxId
from ledger.statekv import StateChange
from ledger.storage.base import StoredEntry


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` in code point order, or None
    when there is none (empty prefix, or only U+10FFFF). Skips the surrogate block, which cannot be
    stored as UTF-8."""
    chars = list(prefix)
    while chars:
        point = ord(chars.pop()) + 1
        if 0xD800 <= point <= 0xDFFF:
            point = 0xE000
        if point <= 0x10FFFF:
            return "".join(chars) + chr(point)
    return None


def block_row(header: BlockHeader, position: int) -> dict[str, Any]:
    return {
        "height": header.height,
        "prev_hash": header.prev_hash,
        "first_index": header.first_index,
        "count": header.count,
        "tree_size": header.tree_size,
        "tree_root": header.tree_root,
        "ts": header.ts,
        "codes_digest": header.codes_digest,
        "hash": header.hash(),
        "position": position,
    }


def header(row: Row[Any]) -> BlockHeader:
    return BlockHeader(
        height=int(row.height),
        prev_hash=Digest(row.prev_hash),
        first_index=int(row.first_index),
        count=int(row._mapping["count"]),  # Row.count is tuple.count
        tree_size=int(row.tree_size),
        tree_root=Digest(row.tree_root),
        ts=int(row.ts),
        codes_digest=Digest(row.codes_digest),
    )


def entry(row: Row[Any]) -> StoredEntry:
    return StoredEntry(
        index=int(row.idx),
        tx_id=TxId(row.tx_id),
        leaf=bytes(row.leaf),
        code=int(row.code),
        height=int(row.height),
    )


def net_changes(
    changes: Sequence[StateChange],
) -> tuple[list[tuple[str, str, bytes]], list[tuple[str, str]]]:
    """Collapse ``changes`` to the last write per row (applied in order, the last one wins), split
    into upsert rows ``(ns, key, value)`` and deletions ``(ns, key)``. One row per key also keeps
    PostgreSQL's multi-row ON CONFLICT from touching a row twice."""
    last: dict[tuple[str, str], bytes | None] = {}
    for change in changes:
        last[(change.ns, change.key)] = change.value
    upserts = [(ns, key, value) for (ns, key), value in last.items() if value is not None]
    deletes = [(ns, key) for (ns, key), value in last.items() if value is None]
    return upserts, deletes
