"""What the gateway's caches are keyed by: state every replica of a member reads alike.

N replicas of one member share its database (ARCHITECTURE.md section 6): the FHIR store, the
evidence archive and the patient index. Each replica is a full ledger node with its own ledger
store (derived state any node rebuilds from the ordered stream). A Consent stored or revoked
through replica A must be enforced by replica B on B's next request, so no cache may be cleared
only by an in-process hook. Each exchange request first reads, in one worker hop, one row of the
shared database (``FhirStore.versions``): the store's write counter (bumped in the transaction of
every write) and the ledger fence (raised by the consent lifecycle once a consent entry is
committed, through any replica). Then:

- a replica whose block listener has seen fewer ledger entries than the fence waits until it has
  (bounded; 503 past it), so a consent written through A is in B's ledger state, and in B's
  cache generations, before B decides;
- the payload cache is valid at one store version: any FHIR write, through any replica, ends it;
- ledger-derived caches (facts, members, keys) are valid for a *generation* of one kind of ledger
  state (consents and grants, or the member registry), bumped by this replica's block listener
  when a block changes it (a gap in the blocks it saw bumps every generation). Blocks that only
  add access records, most of them, keep the caches.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from gateway.errors import UnavailableError
from ledger.blocks import BlockHeader
from ledger.state import namespaces as ns
from ledger.storage.base import BlockWrite

FENCE_TIMEOUT_S = 10.0
FENCE_POLL_S = 0.005
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
REGISTRY = frozenset({ns.MEMBERS, ns.KEYS})
FACTS = frozenset(
    {ns.MEMBERS, ns.KEYS, ns.POLICY, ns.CONSENTS, ns.CONSENTS_BY_PATIENT, ns.GRANTS}
    | {ns.GRANTS_BY_GRANTEE}
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The versions one request keys its caches by."""

    store: int
    facts: int
    registry: int


class Versions:
    """Reads the shared versions and tracks this replica's ledger generations. Register
    ``on_block`` on the ledger node right after construction. Thread-safe."""

    def __init__(
        self,
        store_versions: Callable[[], tuple[int, int]],
        announced_size: int,
        fence_timeout: float = FENCE_TIMEOUT_S,
        *,
        inline: bool = False,
    ) -> None:
        self._store_versions = store_versions
        self._inline = inline
        """``store_versions`` may run on the event loop (a local read of microseconds)."""
        self._fence_timeout = fence_timeout
        self._lock = threading.Lock()
        self._seen = announced_size
        """Tree size of the last block whose changes the generations reflect."""
        self._facts = 0
        self._registry = 0
        self.fence = 0
        self.last = Snapshot(-1, 0, 0)
        """The snapshot of the latest ``read`` (what sync code on the event loop keys by)."""

    @property
    def registry(self) -> int:
        """The member registry's generation now (in memory: this replica's own ledger)."""
        return self._registry

    def read(self) -> Snapshot:
        """Read the shared row now (one small query: call from a worker thread)."""
        store, fence = self._store_versions()
        with self._lock:
            self.fence = max(self.fence, fence)
            self.last = Snapshot(store, self._facts, self._registry)
            return self.last

    async def refresh(self) -> Snapshot:
        """Read the versions; first wait (bounded) until this replica's ledger listener has seen
        the fence. Raises UnavailableError when it does not in time."""
        found = self.read() if self._inline else await asyncio.to_thread(self.read)
        if self._seen >= self.fence:
            return found
        deadline = time.monotonic() + self._fence_timeout
        while self._seen < self.fence:
            if time.monotonic() > deadline:
                raise UnavailableError("this replica's ledger is behind a consent just recorded")
            await asyncio.sleep(FENCE_POLL_S)
        with self._lock:
            self.last = Snapshot(found.store, self._facts, self._registry)
            return self.last

    async def on_block(self, block: BlockWrite) -> None:
        changed = {change.ns for change in block.changes}
        with self._lock:
            gap = block.header.first_index != self._seen
            if gap or changed & FACTS:
                self._facts += 1
            if gap or changed & REGISTRY:
                self._registry += 1
            # Last: a request that sees this size also sees the generations it implies.
            self._seen = block.header.tree_size


class KeyedCache(Generic[K, V]):
    """A dict valid at one version: a lookup at another version empties it first, a value
    computed at an older version than the dict's is never kept, and version None caches
    nothing. Bounded: past ``limit`` entries it starts over. Thread-safe."""

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._version: Hashable = None
        self._items: dict[K, V] = {}

    def get(self, version: Hashable, key: K) -> V | None:
        if version is None:
            return None
        with self._lock:
            if version != self._version:
                self._items.clear()
                self._version = version
            return self._items.get(key)

    def put(self, version: Hashable, key: K, value: V) -> None:
        """Keep ``value`` computed at ``version`` if that is still the dict's version."""
        with self._lock:
            if version is None or version != self._version:
                return
            if len(self._items) >= self._limit:
                self._items.clear()
            self._items[key] = value


def ledger_versions(ledger: LedgerNode, fhir_store: SharedVersions) -> Versions:
    """Versions over this replica's running ledger node and the member's shared FHIR store; also
    registers its block listener (before any later block can be announced)."""
    versions = Versions(
        fhir_store.versions, ledger.committer.head.tree_size, inline=fhir_store.versions_inline
    )
    ledger.on_block(versions.on_block)
    return versions


class SharedVersions(Protocol):
    def versions(self) -> tuple[int, int]: ...

    @property
    def versions_inline(self) -> bool: ...


class LedgerNode(Protocol):
    @property
    def committer(self) -> CommittedHead: ...

    def on_block(self, listener: Callable[[BlockWrite], Awaitable[None]]) -> None: ...


class CommittedHead(Protocol):
    @property
    def head(self) -> BlockHeader: ...
