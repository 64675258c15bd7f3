"""What a type rule sees in phase 2: the entry, its position, the state before it, its sender."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import msgspec

from ledger.entries import SignedEntry
from ledger.errors import EntryError, KeyFormatError
from ledger.signing import load_verifying_key
from ledger.state.membership import Member, SigningKey
from ledger.statekv import StateReader
from ledger.validation.codes import ValidationCode

if TYPE_CHECKING:  # phase 1 imports the registry, whose rules import this module
    from ledger.validation.prepare import Prepared


def reject(code: ValidationCode, problem: str) -> NoReturn:
    raise EntryError(code, problem)


def verify_inline(key: SigningKey, message: bytes, sig: str) -> bool:
    """Check a signature phase 1 could not (its key was added earlier in the same block)."""
    try:
        return load_verifying_key(key.alg, key.pub).verify(message, sig)
    except KeyFormatError:
        return False


class Ctx(msgspec.Struct, frozen=True):
    prepared: Prepared
    entry: SignedEntry
    index: int
    state: StateReader
    sender: Member

    def endorsement_ok(self, position: int, key: SigningKey) -> bool:
        """Is endorsement number ``position`` a valid signature under ``key``? Uses phase 1's
        result when it had one: the key under a kid never changes, so the answer is the same."""
        known = self.prepared.endorsements_ok[position]
        if known is not None:
            return known
        return verify_inline(key, self.entry.message, self.entry.endorsements[position].sig)
