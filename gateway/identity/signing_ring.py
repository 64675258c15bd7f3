"""The member's signing keys across a rotation, and which of them signs: the one the ledger holds
active for this member, the new key preferred.

A gateway holds every signing key it finds in its key files (in force, next, retired: see
gateway.identity.keyfiles) and never forgets one it has loaded. Which one signs is decided from
committed ledger state only, so the switch to a new key happens exactly when this member's node
commits the ``member.update`` that made it active (see docs/key-rotation.md): an entry signed
before that moment with a key the same update retired is committed ``KEY_RETIRED``. Which key
peers get (``peer_key``) is decided from committed state and the clock, never from memory, so a
restarted gateway and every replica give peers the same key at the same moment.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.identity import keyfiles
from gateway.identity.files import load_private_key
from ledger.ids import Kid
from ledger.signing import kid_of
from ledger.state.membership import Member

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

    @property
    def next_kid(self) -> Kid | None:
        """The kid of the next key file (``*.next.key``) as last loaded, or None."""
        return self._next

    def held_key(self, kid: Kid) -> ec.EllipticCurvePrivateKey | None:
        return self._held.get(kid)

    def public_keys(self) -> dict[Kid, ec.EllipticCurvePublicKey]:
        """Every held key's public half, by kid."""
        return {kid: key.public_key() for kid, key in self._held.items()}

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


@dataclass(frozen=True, slots=True)
class PeerKey:
    """A held key that peers still get instead of the key in use, and until when."""

    kid: Kid
    until_ms: int | None
    """Epoch ms from which the key in use goes to peers instead; None: while the ledger holds
    ``kid`` active (each block that changes the member's record decides again)."""


def peer_key(
    record: Member,
    current: Kid,
    held: Collection[Kid],
    block_ts: Callable[[int], int | None],
    grace_ms: int,
) -> PeerKey | None:
    """The held key that peers should still get instead of ``current``, from ``record`` (the
    member's committed record) alone; None: ``current``. Requires ``current`` to be the key the
    ring chose for ``record``.

    - a held key the ledger holds active and lists before ``current`` (``--keep-old``): every
      peer accepts it, committed the addition of ``current`` or not; no end while it is active;
    - a held key retired (not compromised): until the ts of the block that retired it (read by
      its ``retired_index`` with ``block_ts``; its ``retired_ts`` when that block is not stored)
      plus ``grace_ms``, half the overlap every verifier allows, by which time every peer has
      had time to commit the update and know ``current``;
    - a compromised key: never (every peer refuses it from its own commit on).
    The latest-ending candidate wins."""
    order = [k.kid for k in record.signing_keys]
    if current not in order:
        return None  # no held key is active: nothing to hand over to
    best: PeerKey | None = None
    for key in record.signing_keys:
        if key.kid == current or key.kid not in held:
            continue
        if key.is_active:
            if order.index(key.kid) < order.index(current):
                return PeerKey(key.kid, None)
            continue
        if key.compromised or key.retired_ts is None:
            continue
        start = key.retired_ts
        if key.retired_index is not None:
            start = max(start, block_ts(key.retired_index) or start)
        if best is None or (best.until_ms is not None and start + grace_ms > best.until_ms):
            best = PeerKey(key.kid, start + grace_ms)
    return best


def active_signing_key(path: Path, active: Collection[Kid]) -> ec.EllipticCurvePrivateKey:
    """The key a one-shot command signs with: of the held keys of ``path``, the one ``active``
    (the member's active kids in the local ledger state) names; the key in force otherwise."""
    ring = SigningRing(path)
    ring.choose(active)
    return ring.key
