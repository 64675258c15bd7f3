"""Phase 2 of validation: the rules that need state, applied entry after entry in log order.

``apply`` checks, in this fixed order: genesis position; tx id unused; sender a member, active; key
of the sender, active; signature; nonce unused by the sender; then the type's rules. The first
broken rule is the entry's code, and an invalid entry changes no state. ``validate_block`` runs
both phases over a block for the node and for ``ledger verify``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import msgspec

from ledger.entries import EntryType, SignedEntry
from ledger.errors import EntryError
from ledger.ids import TxId
from ledger.state import membership as mem
from ledger.state import namespaces as ns
from ledger.state.membership import KeyResolver, Member
from ledger.statekv import Overlay, StateChange, StateReader
from ledger.validation.codes import ValidationCode as C
from ledger.validation.context import Ctx, reject, verify_inline
from ledger.validation.faults import ENVIRONMENT_FAULTS, fault
from ledger.validation.genesis_rule import apply_genesis, check_position
from ledger.validation.prepare import Prepared, prepare
from ledger.validation.registry import spec_of
from ledger.validation.spec import Rule


def _rule(entry_type: str) -> Rule:
    """The type's rule. Requires the type passed phase 1 (it is registered) and is not genesis."""
    spec = spec_of(entry_type)
    if spec is None or spec.rule is None:
        raise LookupError(f"no rule for {entry_type}")  # unreachable after phase 1
    return spec.rule


def _nonce_key(entry: SignedEntry) -> str:
    return f"{entry.org}/{entry.nonce}"


def _sender(prepared: Prepared, entry: SignedEntry, state: StateReader) -> Member:
    """The common rules of every non-genesis entry; returns the (active) sender."""
    # One row answers both replay rules. The first valid entry with a nonce records its tx id
    # there, and a transaction already in the log necessarily has the same org and nonce.
    used = state.get(ns.NONCES, _nonce_key(entry))
    if used is not None and ns.decode(used)["tx_id"] == entry.tx_id:
        reject(C.DUPLICATE_TXID, f"{entry.tx_id} is already in the log")
    sender = mem.member(state, entry.org)
    if sender is None:
        reject(C.UNKNOWN_MEMBER, f"{entry.org} is not a member")
    if not sender.is_active:
        reject(C.MEMBER_INACTIVE, f"{entry.org} is not active")
    key = mem.signing_key(state, entry.kid)
    if key is None or key.org != entry.org:
        reject(C.UNKNOWN_KEY, f"{entry.kid} is not a key of {entry.org}")
    if not key.is_active:
        reject(C.KEY_RETIRED, f"{entry.kid} is retired")
    sig_ok = prepared.sig_ok
    if sig_ok is None:
        sig_ok = key.alg == entry.alg and verify_inline(key, entry.message, entry.sig)
    if not sig_ok:
        reject(C.BAD_SIGNATURE, "the submitter's signature does not verify")
    if used is not None:
        reject(C.NONCE_REUSED, f"{entry.org} already used nonce {entry.nonce}")
    return sender


def apply(prepared: Prepared, index: int, state: StateReader) -> tuple[C, list[StateChange]]:
    """Phase 2 for the entry at log ``index``, against ``state`` after the entry before it.

    Returns VALID and the state changes (the nonce and tx id records included), or the code of the
    first broken rule and no changes. Pure: reads ``state``, never writes it.
    """
    entry = prepared.entry
    if prepared.code is not C.VALID or entry is None:
        return prepared.code, []
    try:
        if index == 0 or entry.type == EntryType.GENESIS:
            changes = apply_genesis(entry, index)
        else:
            check_position(entry, index)
            sender = _sender(prepared, entry, state)
            changes = _rule(entry.type)(Ctx(prepared, entry, index, state, sender))
    except EntryError as exc:
        return C(exc.code), []
    except ENVIRONMENT_FAULTS:
        raise
    except Exception as exc:  # a rule's bug: the entry changes no state, the node goes on
        return fault("apply", entry.tx_id, entry.type, exc), []
    changes.append(ns.nonce_row(_nonce_key(entry), index, entry.tx_id))
    return C.VALID, changes


Mapper = Callable[[Callable[[bytes], Prepared], Iterable[bytes]], Iterator[Prepared]]


class Validated(msgspec.Struct, frozen=True, gc=False):
    """What the log records of one leaf besides its bytes."""

    index: int
    tx_id: TxId
    code: C
    ts: int | None
    """The entry's signed timestamp when VALID (a block's ts derives from these), else None."""


def validate_block(
    leaves: Sequence[bytes],
    first_index: int,
    state: Overlay,
    keys: KeyResolver,
    mapper: Mapper = map,
) -> list[Validated]:
    """Both phases over one block's leaves (log indexes from ``first_index``); each valid entry's
    changes are written to ``state`` before the next entry is applied.

    ``keys`` resolves kids over the state at block start (not the overlay being written);
    ``mapper`` may be ``executor.map`` of a thread pool so that phase 1 runs on every core. Before
    phase 2, the rows it will read are prefetched in one go when the state's store can do that.
    This is the one validation loop: the node's block builder and `ledger verify` both run it.
    """
    prepared = list(mapper(lambda raw: prepare(raw, keys), leaves))
    state.prefetch(hint for item in prepared for hint in read_hints(item))
    out: list[Validated] = []
    for offset, item in enumerate(prepared):
        index = first_index + offset
        code, changes = apply(item, index, state)
        state.write(changes)
        out.append(Validated(index, item.tx_id, code, item.ts if code is C.VALID else None))
    return out


def read_hints(prepared: Prepared) -> list[tuple[str, str]]:
    """The state rows ``apply`` will read for this entry in any case: a store can fetch a whole
    block's worth in one query per namespace instead of one round trip per row."""
    entry = prepared.entry
    if entry is None or prepared.code is not C.VALID:
        return []
    return [
        (ns.NONCES, _nonce_key(entry)),
        (ns.MEMBERS, entry.org),
        (ns.KEYS, entry.kid),
    ]
