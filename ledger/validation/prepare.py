"""Phase 1 of validation: everything about an entry that needs no state, safe to run in parallel.

``prepare`` checks size, strict canonical JSON, shape, version, algorithm, type and body schema,
and checks the signatures whose keys the block-start resolver knows. The caller maps it over a
thread pool (``cryptography`` releases the GIL while verifying). Its result never depends on
*which* keys the resolver knew: a signature it could not check is marked unchecked and phase 2
checks it inline, in the same order of rules, so a block cut differently still yields the same
codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.entries import GOVERNANCE_TYPES, EntryType, SignedEntry, decode_entry, leaf_tx_id
from ledger.errors import EntryError
from ledger.ids import Kid, TxId
from ledger.signing import as_verifying_key, supported_alg
from ledger.state.membership import KeyResolver
from ledger.validation.bodies import SCHEMAS
from ledger.validation.codes import ValidationCode

_ENDORSED = GOVERNANCE_TYPES | {EntryType.GENESIS}


@dataclass(frozen=True, slots=True)
class Prepared:
    """One ordered leaf after phase 1.

    ``code`` is VALID unless a state-independent rule failed (then ``entry`` may be None).
    ``sig_ok`` / ``endorsements_ok``: the verification results, None where the key was unknown.
    """

    raw: bytes
    tx_id: TxId
    code: ValidationCode
    entry: SignedEntry | None
    sig_ok: bool | None
    endorsements_ok: tuple[bool | None, ...]

    @property
    def ts(self) -> int:
        """The entry's own timestamp (epoch ms), 0 when it did not decode."""
        return 0 if self.entry is None else self.entry.ts


def _check(entry: SignedEntry, keys: KeyResolver) -> tuple[bool | None, tuple[bool | None, ...]]:
    if not supported_alg(entry.alg):
        raise EntryError(ValidationCode.UNSUPPORTED_ALG, f"alg {entry.alg!r} is not registered")
    schema = SCHEMAS.get(entry.type)
    if schema is None:
        raise EntryError(ValidationCode.UNKNOWN_TYPE, f"type {entry.type!r} is not known")
    if entry.endorsements and entry.type not in _ENDORSED:
        raise EntryError(ValidationCode.MALFORMED, "endorsements on a non-governance entry")
    schema(entry.body)
    sig_ok = _verify(keys, entry, entry.kid, entry.sig, entry.alg)
    ends = tuple(_verify(keys, entry, e.kid, e.sig, None) for e in entry.endorsements)
    return sig_ok, ends


def _verify(
    keys: KeyResolver, entry: SignedEntry, kid: str, sig: str, alg: str | None
) -> bool | None:
    found = keys(Kid(kid))
    if found is None:
        return None
    key = as_verifying_key(found)
    if alg is not None and key.alg != alg:
        return False
    return key.verify(entry.message, sig)


def prepare(raw: bytes, keys: KeyResolver) -> Prepared:
    """Phase 1 for one leaf. Pure and thread-safe; ``keys`` is the resolver of state at block start
    (``ledger.state.membership.key_resolver``). Never raises for a bad leaf: it returns its code."""
    try:
        entry = decode_entry(raw)
    except EntryError as exc:
        return Prepared(raw, leaf_tx_id(raw), ValidationCode(exc.code), None, None, ())
    try:
        sig_ok, ends = _check(entry, keys)
    except EntryError as exc:
        return Prepared(raw, entry.tx_id, ValidationCode(exc.code), entry, None, ())
    return Prepared(raw, entry.tx_id, ValidationCode.VALID, entry, sig_ok, ends)
