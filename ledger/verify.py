"""`ledger verify`: re-derive a store from genesis and name the first height where it disagrees.

It rebuilds every block with the same BlockBuilder that committed it (re-validating every entry,
signatures included, against state derived from the entries before it), then compares what it
derived with what the store holds: headers and the hash chain, entries and their codes, Merkle
nodes, and finally every state row. Pure over a read-only view of the store.

Every stored column is covered: the header columns by the block hash (recomputed), the entries,
Merkle nodes and state rows by re-derivation. The one column no hash covers is a block's ordering
``position`` (where the node resumes reading the stream): given the ordering log, verify replays
the stream itself, cutting blocks exactly as the committer did, so each block's position is
recomputed and the entries are compared with the log's bytes. Without the log it can only check
that each block's position advanced by at least its entry count, and says so (``log_checked``).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from ledger.blockbuild import MAX_BLOCK_ENTRIES, BlockBuilder, genesis_block
from ledger.blocks import BlockHeader
from ledger.errors import GenesisError, VerificationError
from ledger.ids import Digest
from ledger.merkle import CompactTree, leaf_hash
from ledger.ordering.base import Ordered
from ledger.state import key_resolver
from ledger.statekv import MemoryState
from ledger.storage.base import BlockWrite, NodeId, StoredEntry

Progress = Callable[[int, int], None]


class VerifiableStore(Protocol):
    def head(self) -> BlockHeader | None: ...

    def iter_blocks(self) -> Iterator[tuple[BlockHeader, Digest, int]]:
        """Every block in height order: header, stored block hash, ordering position."""
        ...

    def entries(self, first: int, count: int) -> list[StoredEntry]: ...

    def count_entries(self) -> int: ...

    def iter_nodes(self) -> Iterator[tuple[NodeId, bytes]]: ...

    def iter_state(self) -> Iterator[tuple[str, str, bytes]]: ...


@dataclass(frozen=True, slots=True)
class Verified:
    height: int
    entries: int
    state_rows: int
    position: int
    """The ordering position stored with the head block."""
    log_checked: bool
    """Whether every block's position and entries were recomputed from the ordering log."""


def verify_store(
    store: VerifiableStore,
    progress: Progress | None = None,
    log: Iterable[Ordered] | None = None,
) -> Verified:
    """Re-check the whole store. Raises VerificationError(height, problem) at the first bad height.

    ``log``, when given, is the ordering stream this store was built from, read from position 1
    (the genesis block is not in it), gapless; it may run past the store's head.
    """
    messages = None if log is None else iter(log)
    head = store.head()
    if head is None:
        raise VerificationError(0, "the store is empty: no genesis block")
    state = MemoryState()
    written_at: dict[tuple[str, str], int] = {}
    nodes: dict[NodeId, tuple[bytes, int]] = {}
    builder: BlockBuilder | None = None
    expected_height = 0
    position = 0
    for header, stored_hash, block_position in store.iter_blocks():
        if header.height != expected_height:
            raise VerificationError(expected_height, f"block {expected_height} missing")
        if not hmac.compare_digest(stored_hash, header.hash()):
            raise VerificationError(header.height, "stored block hash does not match its header")
        stored = store.entries(header.first_index, header.count)
        _check_entries(header, stored)
        rebuilt, builder = _derive(
            header, stored, (position, block_position), messages, builder, state
        )
        position = block_position
        _compare(header, stored, rebuilt)
        for change in rebuilt.changes:
            written_at[(change.ns, change.key)] = header.height
        state.apply(list(rebuilt.changes))
        for node_id, digest in rebuilt.nodes:
            nodes[node_id] = (digest, header.height)
        if progress is not None:
            progress(header.height, head.height)
        expected_height += 1
    if expected_height != head.height + 1:
        raise VerificationError(expected_height, "blocks end before the head")
    if store.count_entries() != head.tree_size:
        raise VerificationError(head.height, "the store holds entries beyond the last block")
    _compare_nodes(store, nodes, head.height)
    _compare_state(store, state, written_at, head.height)
    return Verified(head.height, head.tree_size, len(state.rows), position, messages is not None)


def _derive(
    header: BlockHeader,
    stored: list[StoredEntry],
    positions: tuple[int, int],
    messages: Iterator[Ordered] | None,
    builder: BlockBuilder | None,
    state: MemoryState,
) -> tuple[BlockWrite, BlockBuilder]:
    """The block as the node must have built it: from the ordering log when there is one (its
    position recomputed and compared), else from the stored entries (position bounds only).
    ``positions`` is (the previous block's stored position, this block's)."""
    previous, stored_position = positions
    if messages is None or builder is None:  # genesis is not in the log
        _check_position_bounds(header, previous, stored_position)
        return _rebuild(header, stored, builder, state)
    rebuilt = _replay(header, messages, builder, state)
    if rebuilt.position != stored_position:
        problem = (
            f"stored ordering position {stored_position}, "
            f"the log closes this block at {rebuilt.position}"
        )
        raise VerificationError(header.height, problem)
    return rebuilt, builder


def _check_position_bounds(header: BlockHeader, previous: int, position: int) -> None:
    """Without the log: genesis is at 0, and each block consumed at least one stream position
    per entry (cut markers take more)."""
    if header.height == 0:
        if position != 0:
            raise VerificationError(
                0, f"the genesis block's ordering position is {position}, not 0"
            )
        return
    if position < previous + header.count:
        raise VerificationError(
            header.height,
            f"ordering position {position} is below the previous block's {previous} "
            f"plus this block's {header.count} entries",
        )


def _replay(
    header: BlockHeader,
    messages: Iterator[Ordered],
    builder: BlockBuilder,
    state: MemoryState,
) -> BlockWrite:
    """Feed the ordering log to ``builder`` until it closes a block, exactly as the committer
    cuts: the block it closes carries the position of the message that closed it."""
    builder.keys = key_resolver(state)
    builder.max_entries = MAX_BLOCK_ENTRIES
    for message in messages:
        rebuilt = builder.feed(message.position, message.data)
        if rebuilt is not None:
            builder.committed(rebuilt)
            return rebuilt
    raise VerificationError(
        header.height, "the ordering log ends before this block: the store holds blocks it lacks"
    )


def _check_entries(header: BlockHeader, stored: list[StoredEntry]) -> None:
    indexes = [entry.index for entry in stored]
    wanted = list(range(header.first_index, header.first_index + header.count))
    if indexes != wanted:
        raise VerificationError(header.height, "entries missing, extra or out of order")
    if any(entry.height != header.height for entry in stored):
        raise VerificationError(header.height, "an entry is filed under another block")


def _rebuild(
    header: BlockHeader,
    stored: list[StoredEntry],
    builder: BlockBuilder | None,
    state: MemoryState,
) -> tuple[BlockWrite, BlockBuilder]:
    keys = key_resolver(state)
    if builder is None:
        if header.height != 0 or len(stored) != 1:
            raise VerificationError(header.height, "the first block is not a genesis block")
        try:
            write = genesis_block(stored[0].leaf, keys)
        except GenesisError as exc:
            raise VerificationError(0, str(exc)) from exc
        frontier = CompactTree()
        frontier.append(leaf_hash(stored[0].leaf))
        return write, BlockBuilder(write.header, frontier, state, keys)
    builder.keys = keys
    builder.max_entries = header.count + 1
    for entry in stored:
        builder.feed(0, entry.leaf)
    rebuilt = builder.cut()
    if rebuilt is None:
        raise VerificationError(header.height, "block holds no entries")
    builder.committed(rebuilt)
    return rebuilt, builder


def _compare(header: BlockHeader, stored: list[StoredEntry], rebuilt: BlockWrite) -> None:
    height = header.height
    if len(rebuilt.entries) != len(stored):
        problem = (
            f"the log gives this block {len(rebuilt.entries)} entries, the store {len(stored)}"
        )
        raise VerificationError(height, problem)
    for mine, theirs in zip(rebuilt.entries, stored, strict=True):
        if mine.leaf != theirs.leaf:
            raise VerificationError(height, f"entry {theirs.index} differs from the ordering log")
        if mine.tx_id != theirs.tx_id:
            raise VerificationError(height, f"entry {theirs.index}: tx_id does not match its bytes")
        if mine.code != theirs.code:
            raise VerificationError(
                height, f"entry {theirs.index}: stored code {theirs.code}, re-validated {mine.code}"
            )
    if rebuilt.header.tree_root != header.tree_root:
        raise VerificationError(height, "tree root does not match the entries")
    if rebuilt.header != header:
        raise VerificationError(height, "block header does not match the re-derived header")


def _compare_nodes(
    store: VerifiableStore, derived: dict[NodeId, tuple[bytes, int]], head: int
) -> None:
    seen = 0
    for node_id, digest in store.iter_nodes():
        mine = derived.get(node_id)
        if mine is None:
            raise VerificationError(head, f"unexpected Merkle node {node_id}")
        if mine[0] != digest:
            raise VerificationError(mine[1], f"Merkle node {node_id} was altered")
        seen += 1
    if seen != len(derived):
        first = min(height for _, height in derived.values())
        raise VerificationError(first, "Merkle nodes are missing from the store")


def _compare_state(
    store: VerifiableStore,
    derived: MemoryState,
    written_at: dict[tuple[str, str], int],
    head: int,
) -> None:
    remaining = dict(derived.rows)
    for ns, key, value in store.iter_state():
        mine = remaining.pop((ns, key), None)
        if mine != value:
            height = written_at.get((ns, key), head)
            raise VerificationError(height, f"state row {ns}/{key} differs from the derived state")
    if remaining:
        (ns, key), _ = next(iter(remaining.items()))
        raise VerificationError(written_at[(ns, key)], f"state row {ns}/{key} is missing")
