"""Phase 1 of validation: everything about an entry that needs no state, safe to run in parallel.

``prepare`` checks size, strict canonical JSON, shape, version, algorithm, type and body schema,
and checks the signatures whose keys the block-start resolver knows. ``decode`` does all of it but
the signature arithmetic, which it hands back as checks to run on a thread pool (``cryptography``
releases the GIL while verifying); ``prepare`` is the two in one call. Its result never depends on
*which* keys the resolver knew: a signature it could not check is marked unchecked and phase 2
checks it inline, in the same order of rules, so a block cut differently still yields the same
codes.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from ledger.entries import SignedEntry, decode_entry, leaf_tx_id
from ledger.errors import EntryError
from ledger.ids import Kid, TxId
from ledger.signing import SignatureCheck, as_verifying_key, refused, supported_alg
from ledger.state.membership import KeyResolver
from ledger.validation.codes import ValidationCode
from ledger.validation.fastpath import fast_decode
from ledger.validation.faults import ENVIRONMENT_FAULTS, fault
from ledger.validation.registry import spec_of


class Prepared(msgspec.Struct, frozen=True):
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


class Decoded(msgspec.Struct, frozen=True):
    """Phase 1 but for the signature arithmetic: ``checks`` are the submitter's signature then each
    endorsement's, None where the key is unknown. ``resolved`` takes their answers, in that order.

    Lets the caller decode where it likes and run only the arithmetic on a thread pool, where it
    holds the GIL for next to nothing (``prepare`` does both in one go)."""

    raw: bytes
    tx_id: TxId
    code: ValidationCode
    entry: SignedEntry | None
    checks: tuple[SignatureCheck | None, ...]

    def resolved(self, results: Sequence[bool | None]) -> Prepared:
        """Requires one result per check (None for a None check)."""
        if not self.checks:
            return Prepared(self.raw, self.tx_id, self.code, self.entry, None, ())
        return Prepared(self.raw, self.tx_id, self.code, self.entry, results[0], tuple(results[1:]))

    def run_checks(self) -> list[bool | None]:
        return [None if check is None else check() for check in self.checks]


def _checks(entry: SignedEntry, keys: KeyResolver) -> tuple[SignatureCheck | None, ...]:
    if not supported_alg(entry.alg):
        raise EntryError(ValidationCode.UNSUPPORTED_ALG, f"alg {entry.alg!r} is not registered")
    spec = spec_of(entry.type)
    if spec is None:
        raise EntryError(ValidationCode.UNKNOWN_TYPE, f"type {entry.type!r} is not known")
    if entry.endorsements and not spec.endorsed:
        raise EntryError(ValidationCode.MALFORMED, "endorsements on a non-governance entry")
    spec.body.judge(entry.body)
    return _signatures(entry, keys)


def _signatures(entry: SignedEntry, keys: KeyResolver) -> tuple[SignatureCheck | None, ...]:
    submitter = _check(keys, entry, entry.kid, entry.sig, entry.alg)
    return (submitter, *(_check(keys, entry, e.kid, e.sig, None) for e in entry.endorsements))


def _check(
    keys: KeyResolver, entry: SignedEntry, kid: str, sig: str, alg: str | None
) -> SignatureCheck | None:
    found = keys(Kid(kid))
    if found is None:
        return None
    key = as_verifying_key(found)
    if alg is not None and key.alg != alg:
        return refused
    return key.check(entry.message, sig)


def decode(raw: bytes, keys: KeyResolver) -> Decoded:
    """Phase 1 for one leaf, but for the signature arithmetic. Pure and thread-safe; ``keys`` is the
    resolver of state at block start (``ledger.state.membership.key_resolver``). Never raises for a
    bad leaf: it returns its code (and no checks)."""
    try:
        fast = fast_decode(raw)
    except ENVIRONMENT_FAULTS:
        raise
    except Exception as exc:  # a validator bug: a code, never the end of the committer
        tx_id = leaf_tx_id(raw)
        return Decoded(raw, tx_id, fault("decode", tx_id, None, exc), None, ())
    if fast is None:
        return decode_staged(raw, keys)
    # A valid entry, judged in one typed pass: only its signatures are left.
    return Decoded(raw, fast.tx_id, ValidationCode.VALID, fast, _signatures(fast, keys))


def decode_staged(raw: bytes, keys: KeyResolver) -> Decoded:
    """``decode`` without the fast path: every leaf the fast path declines comes here, and only
    here are codes other than VALID given."""
    try:
        entry = decode_entry(raw)
    except EntryError as exc:
        return Decoded(raw, leaf_tx_id(raw), ValidationCode(exc.code), None, ())
    except ENVIRONMENT_FAULTS:
        raise
    except Exception as exc:  # a validator bug: a code, never the end of the committer
        tx_id = leaf_tx_id(raw)
        return Decoded(raw, tx_id, fault("decode", tx_id, None, exc), None, ())
    try:
        checks = _checks(entry, keys)
    except EntryError as exc:
        return Decoded(raw, entry.tx_id, ValidationCode(exc.code), entry, ())
    except ENVIRONMENT_FAULTS:
        raise
    except Exception as exc:
        return Decoded(raw, entry.tx_id, fault("schema", entry.tx_id, entry.type, exc), entry, ())
    return Decoded(raw, entry.tx_id, ValidationCode.VALID, entry, checks)


def prepare(raw: bytes, keys: KeyResolver) -> Prepared:
    """Phase 1 for one leaf: ``decode`` and its signature checks. Pure and thread-safe."""
    decoded = decode(raw, keys)
    return decoded.resolved(decoded.run_checks())
