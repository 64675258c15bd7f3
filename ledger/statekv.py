"""Ledger state as namespaced key/value rows, and the overlay that block building writes through.

State is derived from the log (ARCHITECTURE.md section 3). Keeping its storage shape generic, rows of
``(namespace, key) -> canonical JSON bytes``, lets storage stay ignorant of what state means (as the
log stays ignorant of what entries mean) and makes "rebuilt state equals incremental state" a plain
comparison of rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol, runtime_checkable

import msgspec


class StateChange(msgspec.Struct, frozen=True, gc=False):
    """Set ``(ns, key)`` to ``value``, or delete it when ``value`` is None.

    Values made for every ledger entry (this one, ``NodeId``, ``Ordered``, ``StoredEntry``, the
    validation results) are frozen msgspec structs, not frozen dataclasses: as immutable and as
    typed, but built in C, where a frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__`` (~0.4 us against ~0.07 us; a committed entry makes about twenty of
    them, all while holding the GIL the signature threads wait for). ``gc=False`` where a value holds
    only strings, bytes and ints, which cannot form a reference cycle: the collector never tracks
    them, so they do not bring its next pass closer.
    """

    ns: str
    key: str
    value: bytes | None


class StateReader(Protocol):
    """Read access to state at one point of the log."""

    def get(self, ns: str, key: str) -> bytes | None: ...

    def scan(self, ns: str, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        """Rows of ``ns`` whose key starts with ``prefix``, in key order."""
        ...


@runtime_checkable
class Prefetching(Protocol):
    """A reader that can load many rows at once ahead of reading them one by one."""

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None: ...


def scan_over(
    base: Iterable[tuple[str, bytes]], pending: Iterable[tuple[str, bytes | None]], prefix: str
) -> Iterator[tuple[str, bytes]]:
    """A prefix scan of ``base`` (rows under ``prefix``) with ``pending`` writes of the same
    namespace laid over it (None deletes), in key order."""
    merged = dict(base)
    for key, value in pending:
        if not key.startswith(prefix):
            continue
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    yield from sorted(merged.items())


class MemoryState:
    """A plain in-memory StateReader: the reference the stores are checked against."""

    def __init__(self, rows: Mapping[tuple[str, str], bytes] | None = None) -> None:
        self.rows: dict[tuple[str, str], bytes] = dict(rows or {})

    def get(self, ns: str, key: str) -> bytes | None:
        return self.rows.get((ns, key))

    def scan(self, ns: str, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        for (row_ns, key), value in sorted(self.rows.items()):
            if row_ns == ns and key.startswith(prefix):
                yield key, value

    def apply(self, changes: list[StateChange]) -> None:
        for change in changes:
            if change.value is None:
                self.rows.pop((change.ns, change.key), None)
            else:
                self.rows[(change.ns, change.key)] = change.value


class Overlay:
    """Pending changes layered over a base reader; reads see the pending writes first.

    Block building validates entry after entry against the state *after the previous entry*, so each
    entry's changes go into the overlay before the next is validated; the store commits them all at once.
    """

    def __init__(self, base: StateReader) -> None:
        self._base = base
        self._pending: dict[tuple[str, str], bytes | None] = {}

    def get(self, ns: str, key: str) -> bytes | None:
        if (ns, key) in self._pending:
            return self._pending[(ns, key)]
        return self._base.get(ns, key)

    def scan(self, ns: str, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        pending = [(k, v) for (n, k), v in self._pending.items() if n == ns]
        return scan_over(self._base.scan(ns, prefix), pending, prefix)

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        """Hand a batch of rows about to be read to the base, when it can load them at once."""
        if isinstance(self._base, Prefetching):
            self._base.prefetch(keys)

    def write(self, changes: list[StateChange]) -> None:
        for change in changes:
            self._pending[(change.ns, change.key)] = change.value

    def changes(self) -> list[StateChange]:
        """The net changes, one per row, each row's last value, in first-write order (what the
        store must commit)."""
        return [StateChange(ns, key, value) for (ns, key), value in self._pending.items()]
