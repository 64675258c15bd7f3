"""Block headers: hash-chained summaries of a run of log entries (ARCHITECTURE.md section 3)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from ledger.canonical import canonical
from ledger.ids import Digest

GENESIS_PREV_HASH = Digest("0" * 64)


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """One block. Entries ``[first_index, first_index + count)`` of the log; the Merkle tree over the
    whole log up to ``tree_size = first_index + count`` has root ``tree_root``.

    ``ts`` is milliseconds since the epoch, taken from the signed entries (the greatest entry ts, never
    below the previous block's), so every gateway computes the same header without a clock.
    ``codes_digest`` is SHA-256 over the canonical list of the entries' validation codes.
    """

    height: int
    prev_hash: Digest
    first_index: int
    count: int
    tree_size: int
    tree_root: Digest
    ts: int
    codes_digest: Digest

    def encode(self) -> bytes:
        return canonical(asdict(self))

    def hash(self) -> Digest:
        return Digest(hashlib.sha256(self.encode()).hexdigest())


def codes_digest(codes: list[int]) -> Digest:
    return Digest(hashlib.sha256(canonical(codes)).hexdigest())
