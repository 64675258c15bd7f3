"""The member registry as the gateway's auth sees it: ledger state, refreshed on every block.

A removed member or a rotated key must be refused as soon as the block that says so is committed:
the cache is dropped by the committer's block listener before the next request can read it.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from ledger.signing import load_public_key_b64
from ledger.state import active_signing_key, member
from ledger.state import namespaces as ns
from ledger.statekv import StateReader
from ledger.storage.base import BlockWrite

_REGISTRY = frozenset({ns.MEMBERS, ns.KEYS})


class LedgerDirectory:
    """``gateway.auth.peer.MemberDirectory`` over committed ledger state."""

    def __init__(self, state: StateReader) -> None:
        self._state = state
        self._keys: dict[tuple[str, str], ec.EllipticCurvePublicKey | None] = {}
        self._active: dict[str, bool] = {}

    def signing_key(self, org: str, kid: str) -> ec.EllipticCurvePublicKey | None:
        if (org, kid) in self._keys:
            return self._keys[(org, kid)]
        found = active_signing_key(self._state, org, kid)
        key = None if found is None else load_public_key_b64(found.pub)
        self._keys[(org, kid)] = key
        return key

    def is_active(self, org: str) -> bool:
        cached = self._active.get(org)
        if cached is None:
            record = member(self._state, org)
            cached = self._active[org] = record is not None and record.is_active
        return cached

    async def on_block(self, write: BlockWrite) -> None:
        """Forget what the block may have changed: a member removed, a key added or retired."""
        if any(change.ns in _REGISTRY for change in write.changes):
            self._keys.clear()
            self._active.clear()
