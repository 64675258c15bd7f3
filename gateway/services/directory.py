"""The member registry as the gateway's auth sees it: committed ledger state.

A removed member or a rotated key must be refused as soon as the block that says so is committed,
by every replica of this member: lookups are cached only at the registry generation of
gateway.services.versions (read from the shared database at the start of each exchange request),
and not at all until the exchange has attached its Versions.

Rotation overlap: a signing key retired by ``member.update`` still verifies until the ts of the
block that committed the retirement (on the ledger: the same for every gateway; the retiring
entry's own ts when the block cannot be read) plus ``overlap_ms``, compared with this gateway's
clock (peer authentication is not ledger validation: the clock may be read here). The block's ts,
not the entry's: an update endorsed over hours carries the ts of its proposal, while its block's
ts is the latest entry time when it committed. So a peer whose node has not committed its own
rotation yet is not refused meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.services.versions import KeyedCache, Versions
from ledger.signing import load_public_key_b64
from ledger.state import member, signing_key_of
from ledger.statekv import StateReader
from ledger.storage.base import Store

BlockTs = Callable[[int], int | None]
"""log position -> ts (ms) of the committed block holding it, or None when not (yet) stored."""

_Found = tuple[ec.EllipticCurvePublicKey | None, int | None]
"""(key, accepted until ms or None for no end): a lookup's answer, cached per generation."""


class LedgerDirectory:
    """``gateway.auth.peer.MemberDirectory`` over committed ledger state."""

    def __init__(
        self,
        state: StateReader,
        versions: Versions | None = None,
        *,
        clock_ms: Callable[[], int] | None = None,
        overlap_ms: int = 0,
        block_ts: BlockTs | None = None,
    ) -> None:
        """``clock_ms`` None or ``overlap_ms`` 0: a retired key is refused at once. ``block_ts``
        None: the overlap starts at the retiring entry's ts."""
        self._state = state
        self._block_ts = block_ts
        self.versions = versions
        self._clock_ms = clock_ms
        self._overlap_ms = overlap_ms
        self._keys: KeyedCache[tuple[str, str], _Found] = KeyedCache()
        self._active: KeyedCache[str, bool] = KeyedCache()

    def signing_key(self, org: str, kid: str) -> ec.EllipticCurvePublicKey | None:
        generation = self._generation()
        cached = self._keys.get(generation, (org, kid))
        if cached is None:
            cached = self._lookup(org, kid)
            self._keys.put(generation, (org, kid), cached)
        key, until = cached
        if until is not None and (self._clock_ms is None or self._clock_ms() >= until):
            return None
        return key

    def _lookup(self, org: str, kid: str) -> _Found:
        found = signing_key_of(self._state, org, kid)
        if found is None:
            return None, None
        if found.is_active:
            return load_public_key_b64(found.pub), None
        if found.compromised or found.retired_ts is None:
            return None, None  # compromised (or retired before times were kept): no overlap
        if self._clock_ms is None or self._overlap_ms <= 0:
            return None, None
        start = found.retired_ts
        if self._block_ts is not None and found.retired_index is not None:
            start = max(start, self._block_ts(found.retired_index) or start)
        return load_public_key_b64(found.pub), start + self._overlap_ms

    def is_active(self, org: str) -> bool:
        generation = self._generation()
        cached = self._active.get(generation, org)
        if cached is None:
            record = member(self._state, org)
            cached = record is not None and record.is_active
            self._active.put(generation, org, cached)
        return cached

    def _generation(self) -> int | None:
        return None if self.versions is None else self.versions.registry


def block_ts_of(store: Store) -> BlockTs:
    """``BlockTs`` over a ledger store: two indexed reads (entry, then its block's header)."""

    def block_ts(index: int) -> int | None:
        found = store.entries(index, 1)
        header = store.block(found[0].height) if found else None
        return None if header is None else header.ts

    return block_ts
