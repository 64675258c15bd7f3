"""Entries decoded as they arrive and their signatures checked on the pool, collected in order when
their block is cut.

Phase 1 of validation needs no state, and its result does not depend on which keys the resolver
knew (an unknown key is left for phase 2 to check inline). So the committer decodes each entry the
moment it reads it, and the pool checks signatures while the loop keeps reading and while the
previous block is applied and written. The block builder then takes the results through its
``mapper`` as if it had mapped ``prepare`` itself.

Only the curve arithmetic goes to the pool, a chunk of checks per task: a pool thread then holds the
GIL for a few microseconds per signature, and a chunk costs one future instead of one per entry. It
still has to take the GIL back after every signature, which CPython grants a waiter only once per
switch interval (5 ms) while another thread runs Python: measured, the builder spends much of a busy
run waiting for these results, and the signature threads, not the arithmetic, set the pace.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from ledger.signing import SignatureCheck
from ledger.validation import Decoded, KeyResolver, Prepared, decode

CHUNK = 64
"""Signature checks per pool task."""


class _Chunk:
    __slots__ = ("checks", "future")

    def __init__(self) -> None:
        self.checks: list[SignatureCheck] = []
        self.future: Future[list[bool]] | None = None


def _run(checks: list[SignatureCheck]) -> list[bool]:
    return [check() for check in checks]


class Speculation:
    """``start`` is called by one thread (the reader), ``map`` by another (the builder)."""

    def __init__(self, executor: ThreadPoolExecutor, keys: KeyResolver) -> None:
        self._executor = executor
        self._keys = keys
        self._started: deque[tuple[bytes, Decoded, _Chunk, int]] = deque()
        self._chunk = _Chunk()
        self._lock = threading.Lock()
        """Guards submitting a chunk, which either thread may do (``flush``)."""

    def start(self, raw: bytes) -> None:
        """Decode the next pending entry and queue its checks (call in stream order, for entries
        only). Checks go to the pool when a chunk is full or at ``flush``."""
        decoded = decode(raw, self._keys)
        checks = [check for check in decoded.checks if check is not None]
        with self._lock:  # a chunk never grows once submitted
            chunk = self._chunk
            self._started.append((raw, decoded, chunk, len(chunk.checks)))
            chunk.checks.extend(checks)
            full = len(chunk.checks) >= CHUNK
        if full:
            self.flush()

    def flush(self) -> None:
        """Send the open chunk to the pool now (the reader calls this before it waits for more)."""
        with self._lock:
            chunk = self._chunk
            if chunk.checks and chunk.future is None:
                chunk.future = self._executor.submit(_run, chunk.checks)
                self._chunk = _Chunk()

    def map(self, fn: Callable[[bytes], Prepared], raws: Iterable[bytes]) -> Iterator[Prepared]:
        """The builder's mapper: speculated results in order; anything not started runs here."""
        for raw in raws:
            if self._started and self._started[0][0] is raw:
                yield self._collect(*self._started.popleft()[1:])
            else:
                yield fn(raw)

    def _collect(self, decoded: Decoded, chunk: _Chunk, offset: int) -> Prepared:
        if all(check is None for check in decoded.checks):  # none of its keys was known
            return decoded.resolved([None] * len(decoded.checks))
        if chunk.future is None:
            self.flush()
        future = chunk.future
        if future is None:  # flush submits every chunk that holds a check: unreachable
            raise RuntimeError("a chunk holding checks was not submitted")
        results = iter(future.result()[offset:])
        return decoded.resolved([None if c is None else next(results) for c in decoded.checks])

    def reset(self) -> None:
        while self._started:
            future = self._started.popleft()[2].future
            if future is not None:
                future.cancel()
        self._chunk = _Chunk()
