"""A read-through cache of committed state for the committer, written through on every block.

Validation reads a handful of rows per entry (tx id, nonce, member, key, ...). One database round
trip each would cost more than the signature check; instead the builder prefetches a whole block's
rows in one query per namespace, and rows it has seen stay cached. Coherent because this node's
committer is the only writer of its store's state, and it calls ``committed`` after every append.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from ledger.statekv import StateChange, StateReader


class BulkReader(StateReader, Protocol):
    def get_many(self, ns: str, keys: Sequence[str]) -> dict[str, bytes]:
        """The rows that exist among ``keys`` (absent keys are simply not in the result)."""
        ...


class CachedState:
    """StateReader + Prefetching over a store. Bounded: past ``max_rows`` it starts over empty."""

    def __init__(self, store: BulkReader, max_rows: int = 500_000) -> None:
        self._store = store
        self._rows: dict[tuple[str, str], bytes | None] = {}
        self._max_rows = max_rows

    def get(self, ns: str, key: str) -> bytes | None:
        try:
            return self._rows[(ns, key)]
        except KeyError:
            value = self._store.get(ns, key)
            self._remember((ns, key), value)
            return value

    def scan(self, ns: str, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        return self._store.scan(ns, prefix)

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        wanted: dict[str, list[str]] = defaultdict(list)
        for ns, key in keys:
            if (ns, key) not in self._rows:
                wanted[ns].append(key)
        for ns, names in wanted.items():
            found = self._store.get_many(ns, names)
            for name in names:
                self._remember((ns, name), found.get(name))

    def committed(self, changes: Iterable[StateChange]) -> None:
        """The store now holds these changes: so does the cache."""
        for change in changes:
            self._remember((change.ns, change.key), change.value)

    def clear(self) -> None:
        self._rows.clear()

    def _remember(self, key: tuple[str, str], value: bytes | None) -> None:
        if len(self._rows) >= self._max_rows:
            self._rows.clear()
        self._rows[key] = value
