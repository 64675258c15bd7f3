"""The gateway's token keys across rotations: the key that signs new tokens, and the retired keys
whose tokens are still accepted until their retirement time plus the overlap.

The token key signs only this gateway's own tokens (SMART access tokens, patient tokens), which
only this gateway verifies: no ledger step is needed. ``medgate member rotate --token`` keeps the
old key as ``keys/retired/token-<kid>.key`` with its retirement time (epoch seconds, the CLI's
clock) and atomically replaces ``keys/token.key``; a running gateway sees the new file (a stat per
issued token, and per token naming a kid it does not know) and signs with it from then on. Every
replica sharing the key folder does the same: tokens need no server-side table.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth.keys import kid_of, load_p256_private
from gateway.errors import ConfigError
from gateway.identity import keyfiles
from ledger.ids import Kid

_Stamp = tuple[int, int, int] | None
"""(inode, size, mtime ns) of the key file in force: a change means a rotation."""


@dataclass(frozen=True, slots=True)
class _Retired:
    public: ec.EllipticCurvePublicKey
    retired_at: int | None
    """Epoch seconds; None (no readable marker) accepts nothing."""


class TokenKeys:
    """Signer and verifier keys of this gateway's tokens. Thread-safe."""

    def __init__(
        self, key: ec.EllipticCurvePrivateKey, *, path: Path | None = None, overlap: int = 0
    ) -> None:
        """``path`` None: a fixed key (tests, embedded use); else the key file, followed."""
        self._path = path
        self._overlap = overlap
        self._lock = threading.Lock()
        self._key, self._kid = key, kid_of(key.public_key())
        self._retired: dict[Kid, _Retired] = {}
        self._stamp = self._stat()
        if path is not None:
            self._load_retired()

    @classmethod
    def from_file(cls, path: Path, overlap: int) -> TokenKeys:
        """The keys of ``path`` (the configured token key) and its retired ones."""
        return cls(load_p256_private(path), path=path, overlap=overlap)

    def signer(self) -> tuple[ec.EllipticCurvePrivateKey, Kid]:
        """The key (and kid) new tokens are signed with, after looking for a rotation."""
        self._follow()
        with self._lock:
            return self._key, self._kid

    def verifier(self, kid: str, now: int) -> ec.EllipticCurvePublicKey | None:
        """The public key for a token naming ``kid``: the key in force, or a retired one while
        ``now`` is before its retirement plus the overlap; None otherwise."""
        found = self._verifier(kid, now)
        if found is None and self._follow():
            found = self._verifier(kid, now)
        return found

    def accepts(self, kid: str, now: int) -> bool:
        """Whether a token naming ``kid`` may still be accepted at ``now`` (cache re-checks)."""
        return self._verifier(kid, now) is not None

    def _verifier(self, kid: str, now: int) -> ec.EllipticCurvePublicKey | None:
        with self._lock:
            if kid == self._kid:
                return self._key.public_key()
            retired = self._retired.get(Kid(kid))
        if retired is None or retired.retired_at is None:
            return None
        return retired.public if now < retired.retired_at + self._overlap else None

    def _stat(self) -> _Stamp:
        if self._path is None:
            return None
        try:
            info = os.stat(self._path)
        except OSError:
            return None
        return info.st_ino, info.st_size, info.st_mtime_ns

    def _follow(self) -> bool:
        """Reload when the key file changed; whether it did. A file that cannot be read as a
        P-256 key leaves the keys as they were (the next call tries again)."""
        stamp = self._stat()
        if self._path is None or stamp is None or stamp == self._stamp:
            return False
        try:
            key = load_p256_private(self._path)
        except ConfigError:
            return False
        with self._lock:
            self._key, self._kid, self._stamp = key, kid_of(key.public_key()), stamp
        self._load_retired()
        return True

    def _load_retired(self) -> None:
        assert self._path is not None  # noqa: S101 - only for keys read from a file
        found: dict[Kid, _Retired] = {}
        for file in keyfiles.retired_files(self._path):
            try:
                key = load_p256_private(file)
            except ConfigError:
                continue
            kid = kid_of(key.public_key())
            found[kid] = _Retired(key.public_key(), keyfiles.retired_at(self._path, kid))
        with self._lock:
            found.pop(self._kid, None)
            self._retired = found
