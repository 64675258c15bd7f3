"""Block building: turn the ordered stream into blocks, identically on every gateway.

Pure: the state reader, the Merkle frontier and the parallel ``map`` are passed in, and block
boundaries come only from the stream itself (ARCHITECTURE.md section 3):
- a cut marker closes the pending entries into a block (a marker with nothing pending is a no-op);
- ``max_entries`` pending entries close a block at once, with no marker needed.
So every gateway that reads the same stream cuts the same blocks, whatever its clock or load.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.blocks import GENESIS_PREV_HASH, BlockHeader, codes_digest
from ledger.entries import is_cut_marker
from ledger.errors import GenesisError
from ledger.ids import Digest
from ledger.merkle import CompactTree, leaf_hash
from ledger.statekv import MemoryState, Overlay, StateReader
from ledger.storage.base import BlockWrite, NodeId, StoredEntry
from ledger.validation import KeyResolver, ValidationCode, apply, prepare
from ledger.validation.apply import Mapper, validate_block

MAX_BLOCK_ENTRIES = 500
"""A block never holds more entries; the stream cuts itself at this count."""


@dataclass(slots=True)
class BlockBuilder:
    """Accumulates ordered messages after ``head`` and emits the next block when the stream says so.

    Requires: ``frontier`` is the Merkle compact range over exactly ``head.tree_size`` leaves and
    ``state`` reflects every block up to ``head``. Call ``committed(write)`` once ``state`` reflects
    each emitted block (the store appended it, or, as the committer does, its changes are staged
    ahead of the store), before feeding further messages.
    """

    head: BlockHeader
    frontier: CompactTree
    state: StateReader
    keys: KeyResolver
    mapper: Mapper = map
    max_entries: int = MAX_BLOCK_ENTRIES
    _pending: list[bytes] = field(default_factory=list)
    last_position: int = 0
    read_size: int = field(init=False)
    """The tree size once every entry fed so far is in a block. Unlike ``head`` and ``pending`` it
    has no gap while a block is being cut, so another thread can count what is not yet in a block."""

    def __post_init__(self) -> None:
        self.read_size = self.head.tree_size + len(self._pending)

    def feed(self, position: int, data: bytes) -> BlockWrite | None:
        """Take the message at ``position``; return a block when this message closes one."""
        self.last_position = position
        if is_cut_marker(data):
            return self._cut() if self._pending else None
        self._pending.append(data)
        self.read_size += 1
        if len(self._pending) >= self.max_entries:
            return self._cut()
        return None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def cut(self) -> BlockWrite | None:
        """Close the pending entries into a block now (verification re-cuts stored blocks this way)."""
        return self._cut() if self._pending else None

    def _cut(self) -> BlockWrite:
        raws, self._pending = self._pending, []
        first = self.head.tree_size
        height = self.head.height + 1
        overlay = Overlay(self.state)
        validated = validate_block(raws, first, overlay, self.keys, self.mapper)
        entries = [
            StoredEntry(v.index, v.tx_id, raw, int(v.code), height)
            for v, raw in zip(validated, raws, strict=True)
        ]
        nodes: list[tuple[NodeId, bytes]] = []
        for raw in raws:
            nodes.extend(self.frontier.append(leaf_hash(raw)))
        header = BlockHeader(
            height=height,
            prev_hash=self.head.hash(),
            first_index=first,
            count=len(raws),
            tree_size=first + len(raws),
            tree_root=Digest(self.frontier.root().hex()),
            ts=max([self.head.ts, *(v.ts for v in validated if v.ts is not None)]),
            codes_digest=codes_digest([int(v.code) for v in validated]),
        )
        return BlockWrite(header, entries, nodes, overlay.changes(), self.last_position)

    def committed(self, write: BlockWrite) -> None:
        """The store holds ``write`` now: it is the new head."""
        self.head = write.header


def genesis_block(leaf: bytes, keys: KeyResolver) -> BlockWrite:
    """Block 0: the consortium's genesis entry alone, validated like any other entry.

    Raises GenesisError when the entry is not a valid genesis (the consortium cannot start from it).
    """
    item = prepare(leaf, keys)
    overlay = Overlay(MemoryState())
    code, changes = apply(item, 0, overlay)
    if code is not ValidationCode.VALID:
        raise GenesisError(f"genesis entry is invalid: {code.name}")
    overlay.write(changes)
    frontier = CompactTree()
    nodes = frontier.append(leaf_hash(leaf))
    header = BlockHeader(
        height=0,
        prev_hash=GENESIS_PREV_HASH,
        first_index=0,
        count=1,
        tree_size=1,
        tree_root=Digest(frontier.root().hex()),
        ts=item.ts,
        codes_digest=codes_digest([int(code)]),
    )
    entry = StoredEntry(0, item.tx_id, leaf, int(code), 0)
    return BlockWrite(header, [entry], nodes, overlay.changes(), 0)
