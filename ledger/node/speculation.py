"""Signature checks started as entries arrive, collected in order when their block is cut.

Phase 1 of validation (``prepare``) needs no state, and its result does not depend on which keys
the resolver knew (an unknown key is left for phase 2 to check inline). So the committer can hand
each entry to the thread pool the moment it reads it: the pool verifies signatures while the loop
keeps reading and while the previous block is applied and committed. The block builder then takes
the results through its ``mapper`` as if it had mapped them itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from ledger.validation import KeyResolver, Prepared, prepare


class Speculation:
    def __init__(self, executor: ThreadPoolExecutor, keys: KeyResolver) -> None:
        self._executor = executor
        self._keys = keys
        self._started: deque[tuple[bytes, Future[Prepared]]] = deque()

    def start(self, raw: bytes) -> None:
        """Begin phase 1 for the next pending entry (call in stream order, for entries only)."""
        self._started.append((raw, self._executor.submit(prepare, raw, self._keys)))

    def map(self, fn: Callable[[bytes], Prepared], raws: Iterable[bytes]) -> Iterator[Prepared]:
        """The builder's mapper: speculated results in order; anything not started runs here."""
        for raw in raws:
            if self._started and self._started[0][0] is raw:
                yield self._started.popleft()[1].result()
            else:
                yield fn(raw)

    def reset(self) -> None:
        while self._started:
            self._started.popleft()[1].cancel()
