"""The storage interface the ledger's node needs; one implementation per technology beside it.

A store holds, per committed block: the header, its entries (raw leaf bytes, tx_id, validation code),
the Merkle nodes of full subtrees completed by those entries, the state changes they made, and the
ordering position consumed up to. ``append`` commits all of that in one database transaction:
after a crash either the whole block is there or none of it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import msgspec

from ledger.blocks import BlockHeader
from ledger.ids import NodeId, TxId

__all__ = ["BlockWrite", "NodeId", "Store", "StoredEntry"]
from ledger.statekv import StateChange


class StoredEntry(msgspec.Struct, frozen=True, gc=False):
    """One log entry as stored (a struct: see ``ledger.statekv.StateChange``)."""

    index: int
    """Position in the log (0-based; the genesis entry is 0)."""
    tx_id: TxId
    leaf: bytes
    """The raw bytes as ordered: the Merkle leaf (leaf hash = SHA-256(0x00 || leaf))."""
    code: int
    """ValidationCode value; 0 is VALID."""
    height: int


@dataclass(frozen=True, slots=True)
class BlockWrite:
    header: BlockHeader
    entries: Sequence[StoredEntry]
    nodes: Sequence[tuple[NodeId, bytes]]
    changes: Sequence[StateChange]
    position: int
    """Ordering position consumed up to and including this block (0 for genesis)."""


class Store(Protocol):
    """What the node needs of a store. Implementations: ``ledger.storage.sql`` (SQLite, PostgreSQL)."""

    def append(self, block: BlockWrite) -> None:
        """Commit a block atomically. Raises ConflictError unless ``height == head height + 1``."""
        ...

    def head(self) -> BlockHeader | None: ...

    def position(self) -> int:
        """The ordering position stored with the last committed block (0 when empty)."""
        ...

    def block(self, height: int) -> BlockHeader | None: ...

    def entries(self, first: int, count: int) -> list[StoredEntry]: ...

    def entry_by_tx(self, tx_id: TxId) -> StoredEntry | None:
        """The first (valid, or else earliest) entry carrying this tx_id."""
        ...

    def nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Stored node hashes, in the order asked. Raises StorageError for a missing node."""
        ...

    def get(self, ns: str, key: str) -> bytes | None: ...

    def get_many(self, ns: str, keys: Sequence[str]) -> dict[str, bytes]:
        """The rows that exist among ``keys`` (absent keys are left out)."""
        ...

    def scan(self, ns: str, prefix: str = "") -> Iterator[tuple[str, bytes]]: ...

    def close(self) -> None: ...
