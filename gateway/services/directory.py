"""The member registry as the gateway's auth sees it: committed ledger state.

A removed member or a rotated key must be refused as soon as the block that says so is committed,
by every replica of this member: lookups are cached only at the registry generation of
gateway.services.versions (read from the shared database at the start of each exchange request),
and not at all until the exchange has attached its Versions.

Rotation overlap: a signing key retired by ``member.update`` still verifies until the retiring
entry's ts (on the ledger: the same for every gateway) plus ``overlap_ms``, compared with this
gateway's clock (peer authentication is not ledger validation: the clock may be read here). So a
peer whose node has not committed its own rotation yet is not refused meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.services.versions import KeyedCache, Versions
from ledger.signing import load_public_key_b64
from ledger.state import member, signing_key_of
from ledger.statekv import StateReader

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
    ) -> None:
        """``clock_ms`` None or ``overlap_ms`` 0: a retired key is refused at once."""
        self._state = state
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
        if found.retired_ts is None or self._clock_ms is None or self._overlap_ms <= 0:
            return None, None
        return load_public_key_b64(found.pub), found.retired_ts + self._overlap_ms

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
