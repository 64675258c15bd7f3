"""The member's private encryption keys across rotations, looked up by kid.

An envelope names each recipient key by its thumbprint (``kid``). A member keeps its old private
encryption keys after a rotation (``keys/retired/encryption-<kid>.jwk.json``, see
gateway.identity.keyfiles) so that envelopes sealed to them before the rotation still open; it
holds its next key from the moment ``medgate member rotate`` wrote it, so that envelopes sealed to
it by a peer whose node committed the rotation first open too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from gateway.crypto.errors import KeyFormatError, UnsupportedAlgorithm
from gateway.crypto.keys import Jwk, public_jwk, read_jwk
from gateway.identity import keyfiles

RELOAD_EVERY_S = 1.0
"""At most one look at the key files per second when an envelope names no key we hold."""


class DecryptionRing:
    """Private encryption JWKs by kid, read from the files of ``path``'s kind. Keys once loaded
    are never forgotten (a retired key file moved by ``medgate member rotate --finish`` stays
    known). Thread-safe: envelopes are opened on the event loop and in worker threads."""

    def __init__(self, path: Path, monotonic: Callable[[], float] = time.monotonic) -> None:
        """``monotonic`` (seconds) only paces reloads; no decision reads it."""
        self._path = path
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._keys: dict[str, Jwk] = {}
        self._current = self._add(read_jwk(path))
        self._loaded_at: float | None = None
        self.reload()

    @property
    def current(self) -> Jwk:
        """The key in force when the gateway started (the one its card and record first name)."""
        return self._keys[self._current]

    def held(self) -> list[Jwk]:
        """Every held private key: the one in force first."""
        with self._lock:
            return [self._keys[self._current]] + [
                k for kid, k in self._keys.items() if kid != self._current
            ]

    def reload(self) -> None:
        """Load key files not seen yet (unreadable ones are skipped and retried next time)."""
        for file in keyfiles.candidates(self._path):
            try:
                self._add(read_jwk(file))
            except (OSError, KeyFormatError, UnsupportedAlgorithm):
                continue
        self._loaded_at = self._monotonic()

    def reload_if_due(self) -> bool:
        """Reload when the last look is older than RELOAD_EVERY_MS; whether it did."""
        last = self._loaded_at
        if last is not None and self._monotonic() - last < RELOAD_EVERY_S:
            return False
        self.reload()
        return True

    def _add(self, jwk: Jwk) -> str:
        kid = public_jwk(jwk)["kid"]
        with self._lock:
            self._keys.setdefault(kid, jwk)
        return kid
