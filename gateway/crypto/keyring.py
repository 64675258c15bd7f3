"""The member's private encryption keys across rotations, looked up by kid.

An envelope names each recipient key by its thumbprint (``kid``). A member keeps its old private
encryption keys after a rotation (``keys/retired/encryption-<kid>.jwk.json``, see
gateway.identity.keyfiles) so that envelopes sealed to them before the rotation still open; it
holds its next key from the moment ``medgate member rotate`` wrote it, so that envelopes sealed to
it by a peer whose node committed the rotation first open too.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from gateway.crypto.errors import KeyFormatError, UnsupportedAlgorithm
from gateway.crypto.keys import Jwk, public_jwk, read_jwk
from gateway.identity import keyfiles

FileStamp = tuple[str, int, int, int]
"""A key file as last seen: path, inode, size, mtime (ns). A file whose stamp is unchanged is not
read again."""


class DecryptionRing:
    """Private encryption JWKs by kid, read from the files of ``path``'s kind. Keys once loaded
    are never forgotten (a retired key file moved by ``medgate member rotate --finish`` stays
    known). Thread-safe: envelopes are opened on the event loop and in worker threads."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._keys: dict[str, Jwk] = {}
        self._seen: set[FileStamp] = set()
        self._current = self._add(read_jwk(path))
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

    def reload(self) -> bool:
        """Read the key files that are new or changed since the last look (a few ``stat`` calls
        when none is, so an envelope naming a key nobody holds costs no file reads); whether a
        key not held before was added. Unreadable files are skipped and retried next time."""
        added = False
        for file in keyfiles.candidates(self._path):
            try:
                info = os.stat(file)
            except OSError:
                continue
            stamp = (str(file), info.st_ino, info.st_size, info.st_mtime_ns)
            if stamp in self._seen:
                continue
            try:
                jwk = read_jwk(file)
            except (OSError, KeyFormatError, UnsupportedAlgorithm):
                continue
            with self._lock:
                added = public_jwk(jwk)["kid"] not in self._keys or added
            self._add(jwk)
            self._seen.add(stamp)
        return added

    def _add(self, jwk: Jwk) -> str:
        kid = public_jwk(jwk)["kid"]
        with self._lock:
            self._keys.setdefault(kid, jwk)
        return kid
