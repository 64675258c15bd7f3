"""The member registry as the gateway's auth sees it: committed ledger state.

A removed member or a rotated key must be refused as soon as the block that says so is committed,
by every replica of this member: lookups are cached only at the registry generation of
gateway.services.versions (read from the shared database at the start of each exchange request),
and not at all until the exchange has attached its Versions.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.services.versions import KeyedCache, Versions
from ledger.signing import load_public_key_b64
from ledger.state import active_signing_key, member
from ledger.statekv import StateReader


class LedgerDirectory:
    """``gateway.auth.peer.MemberDirectory`` over committed ledger state."""

    def __init__(self, state: StateReader, versions: Versions | None = None) -> None:
        self._state = state
        self.versions = versions
        self._keys: KeyedCache[tuple[str, str], tuple[ec.EllipticCurvePublicKey | None]] = (
            KeyedCache()
        )
        self._active: KeyedCache[str, bool] = KeyedCache()

    def signing_key(self, org: str, kid: str) -> ec.EllipticCurvePublicKey | None:
        generation = self._generation()
        cached = self._keys.get(generation, (org, kid))
        if cached is not None:
            return cached[0]
        found = active_signing_key(self._state, org, kid)
        key = None if found is None else load_public_key_b64(found.pub)
        self._keys.put(generation, (org, kid), (key,))
        return key

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
