"""The member's signing keys across a rotation, and which of them signs: the one the ledger holds
active for this member, the new key preferred.

A gateway holds every signing key it finds in its key files (in force, next, retired: see
gateway.identity.keyfiles) and never forgets one it has loaded. Which one signs is decided from
committed ledger state only, so the switch to a new key happens exactly when this member's node
commits the ``member.update`` that made it active (see docs/key-rotation.md): an entry signed
before that moment with a key the same update retired is committed ``KEY_RETIRED``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.identity import keyfiles
from gateway.identity.files import load_private_key
from ledger.ids import Kid
from ledger.signing import kid_of

PENDING_CHECK_S = 1.0


class SigningRing:
    """The keys held for ``path`` (the configured signing key file) and the one in use."""

    def __init__(self, path: Path, monotonic: Callable[[], float] = time.monotonic) -> None:
        """``monotonic`` (seconds) only paces ``rotation_pending``'s look at the disk."""
        self._path = path
        self._monotonic = monotonic
        self._pending: tuple[float, bool] | None = None
        key = load_private_key(path)
        self._kid = kid_of(key.public_key())
        self._held: dict[Kid, ec.EllipticCurvePrivateKey] = {self._kid: key}
        self._next: Kid | None = None
        self.reload()

    @property
    def kid(self) -> Kid:
        return self._kid

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        return self._held[self._kid]

    @property
    def held(self) -> frozenset[Kid]:
        return frozenset(self._held)

    def rotation_pending(self) -> bool:
        """Whether a next key file exists (a rotation not finished yet): looked at once a second
        at most, since it is asked for every entry signed."""
        now = self._monotonic()
        seen = self._pending
        if seen is None or now - seen[0] >= PENDING_CHECK_S:
            seen = (now, keyfiles.next_path(self._path).exists())
            self._pending = seen
        return seen[1]

    def reload(self) -> None:
        """Load key files not seen yet (an unreadable one is skipped: the next reload retries)."""
        pending = keyfiles.next_path(self._path)
        for file in keyfiles.candidates(self._path):
            try:
                key = load_private_key(file)
            except (OSError, ValueError):
                continue
            kid = kid_of(key.public_key())
            self._held.setdefault(kid, key)
            if file == pending:
                self._next = kid

    def choose(self, active: Collection[Kid]) -> ec.EllipticCurvePrivateKey | None:
        """Switch to the held key that ``active`` (the member's active kids on the ledger) names:
        the next key first, then the key in use, then any other. Returns the new key when the
        choice changed, None when it did not (also when no held key is active: keep signing, the
        ledger will refuse it, and the operator sees why)."""
        order = [k for k in (self._next, self._kid) if k is not None]
        order += sorted(set(self._held) - set(order))
        for kid in order:
            if kid in active:
                if kid == self._kid:
                    return None
                self._kid = kid
                return self._held[kid]
        return None


def active_signing_key(path: Path, active: Collection[Kid]) -> ec.EllipticCurvePrivateKey:
    """The key a one-shot command signs with: of the held keys of ``path``, the one ``active``
    (the member's active kids in the local ledger state) names; the key in force otherwise."""
    ring = SigningRing(path)
    ring.choose(active)
    return ring.key
