"""Read-only views of a member's committed ledger: head, blocks, entries and RFC 9162 proofs.

Digests and proof hashes are lowercase hex (as in block headers and checkpoints), leaves base64url.
Only committed data is shown, and proofs are only given for sizes within the committed tree, so a
reader never sees a tree this node could still change. Synchronous: call from a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from gateway.crypto import b64
from gateway.errors import BadRequestError, NotFoundError, UnavailableError
from ledger.blocks import BlockHeader
from ledger.ids import NodeId
from ledger.merkle import consistency_proof, inclusion_proof, leaf_hash
from ledger.storage.base import StoredEntry


class LedgerReads(Protocol):
    """What the views read of a store (ledger.storage.sql.SqlStore satisfies it)."""

    def head(self) -> BlockHeader | None: ...

    def block(self, height: int) -> BlockHeader | None: ...

    def entries(self, first: int, count: int) -> list[StoredEntry]: ...

    def nodes(self, ids: Sequence[NodeId]) -> list[bytes]: ...


def header_json(header: BlockHeader) -> dict[str, Any]:
    return {
        "height": header.height,
        "block_hash": header.hash(),
        "prev_hash": header.prev_hash,
        "first_index": header.first_index,
        "count": header.count,
        "tree_size": header.tree_size,
        "tree_root": header.tree_root,
        "ts": header.ts,
        "codes_digest": header.codes_digest,
    }


def committed_head(store: LedgerReads) -> BlockHeader:
    head = store.head()
    if head is None:
        raise UnavailableError("the ledger holds no block yet")
    return head


def block_json(store: LedgerReads, height: int) -> dict[str, Any]:
    header = store.block(height) if height >= 0 else None
    if header is None:
        raise NotFoundError("no such block")
    return header_json(header)


def entry_json(store: LedgerReads, index: int) -> dict[str, Any]:
    """Leaf ``index`` as stored: raw bytes, tx_id, validation code (0 = valid), block height."""
    size = committed_head(store).tree_size
    found = store.entries(index, 1) if 0 <= index < size else []
    if not found:
        raise NotFoundError(f"no entry at this index (the log holds {size})")
    entry = found[0]
    return {
        "index": entry.index,
        "tx_id": entry.tx_id,
        "code": entry.code,
        "height": entry.height,
        "leaf": b64.encode_str(entry.leaf),
        "leaf_hash": leaf_hash(entry.leaf).hex(),
    }


def inclusion_json(store: LedgerReads, index: int, size: int) -> dict[str, Any]:
    """Requires ``0 <= index < size <= committed tree size`` (else 400)."""
    committed = committed_head(store).tree_size
    if not 0 <= index < size <= committed:
        raise BadRequestError(f"need 0 <= index < size <= {committed}")
    proof = inclusion_proof(index, size, store.nodes)
    return {"index": index, "tree_size": size, "hashes": [h.hex() for h in proof]}


def consistency_json(store: LedgerReads, first: int, second: int) -> dict[str, Any]:
    """Requires ``0 < first <= second <= committed tree size`` (else 400)."""
    committed = committed_head(store).tree_size
    if not 0 < first <= second <= committed:
        raise BadRequestError(f"need 0 < from <= to <= {committed}")
    proof = consistency_proof(first, second, store.nodes)
    return {"from": first, "to": second, "hashes": [h.hex() for h in proof]}
