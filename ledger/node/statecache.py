"""A read-through cache of state for the committer, ahead of the store by the blocks being written.

Validation reads a handful of rows per entry (nonce, member, key, ...). One database round trip
each would cost more than the signature check; instead the builder prefetches a whole block's rows
in one query per namespace, and rows it has seen stay cached.

The committer builds block N+1 while block N is still being written (the store's fsync and inserts
run on their own thread, off the GIL), so validation must see block N's changes before the store
does. Those are *staged*: held apart from the bounded cache, read first, never evicted, until the
writer reports the block durable (*flushed*). Coherent because this node's committer is the only
writer of its store's state.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from ledger.statekv import StateChange, StateReader, scan_over


class BulkReader(StateReader, Protocol):
    def get_many(self, ns: str, keys: Sequence[str]) -> dict[str, bytes]:
        """The rows that exist among ``keys`` (absent keys are simply not in the result)."""
        ...


class CachedState:
    """StateReader + Prefetching over a store. The cache of durable rows is bounded: past
    ``max_rows`` it starts over empty (staged rows are kept apart and never dropped)."""

    def __init__(self, store: BulkReader, max_rows: int = 500_000) -> None:
        self._store = store
        self._rows: dict[tuple[str, str], bytes | None] = {}
        self._max_rows = max_rows
        self._staged: dict[tuple[str, str], tuple[bytes | None, int]] = {}
        """Rows of blocks built but not yet durable: key -> (value, height of the block)."""
        self._lock = threading.Lock()
        """Serialises ``staged`` (builder thread) against ``flushed`` (writer thread)."""
        self._flushes = 0

    def get(self, ns: str, key: str) -> bytes | None:
        row = (ns, key)
        staged = self._staged.get(row)
        if staged is not None:
            return staged[0]
        try:
            return self._rows[row]
        except KeyError:
            pass
        # A miss reads the store, which holds every row that is not staged. The prepare threads
        # read too: a block flushed while this read was under way may have remembered a newer
        # value, which a stale one must not overwrite, so it is kept only if no flush came between.
        flushes = self._flushes
        value = self._store.get(ns, key)
        with self._lock:
            if self._flushes == flushes and row not in self._staged:
                self._remember(row, value)
        return value

    def scan(self, ns: str, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        with self._lock:
            staged = [(k, v) for (n, k), (v, _) in self._staged.items() if n == ns]
        return scan_over(self._store.scan(ns, prefix), staged, prefix)

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        wanted: dict[str, list[str]] = defaultdict(list)
        for ns, key in keys:
            if (ns, key) not in self._rows and (ns, key) not in self._staged:
                wanted[ns].append(key)
        for ns, names in wanted.items():
            found = self._store.get_many(ns, names)
            for name in names:
                self._remember((ns, name), found.get(name))

    def staged(self, changes: Iterable[StateChange], height: int) -> None:
        """Block ``height`` was built with these changes: read them from now on."""
        with self._lock:
            for change in changes:
                self._staged[(change.ns, change.key)] = (change.value, height)

    def flushed(self, changes: Iterable[StateChange], height: int) -> None:
        """Block ``height`` is durable in the store: its rows move to the plain cache, unless a
        later staged block changed them again."""
        with self._lock:
            for change in changes:
                row = (change.ns, change.key)
                staged = self._staged.get(row)
                if staged is not None and staged[1] == height:
                    self._remember(row, change.value)  # before the delete: never a gap
                    del self._staged[row]
            self._flushes += 1

    def clear(self) -> None:
        self._rows.clear()

    def _remember(self, key: tuple[str, str], value: bytes | None) -> None:
        if len(self._rows) >= self._max_rows:
            self._rows.clear()
        self._rows[key] = value
