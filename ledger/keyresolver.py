"""Signature-check keys resolved from committed state, with a cache of parsed public keys."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from ledger.state import signing_key_for_kid
from ledger.statekv import StateReader


class StateKeyResolver:
    """``kid -> public key`` from the ``keys`` namespace of committed state.

    Keys are never deleted from state (a retired key is only marked), so a cached parse stays right;
    whether a key may still sign is the sequential validation's question, not this resolver's.
    """

    def __init__(self, state: StateReader) -> None:
        self._state = state
        self._cache: dict[str, ec.EllipticCurvePublicKey] = {}

    def __call__(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        key = self._cache.get(kid)
        if key is None:
            key = signing_key_for_kid(self._state, kid)
            if key is not None:
                self._cache[kid] = key
        return key
