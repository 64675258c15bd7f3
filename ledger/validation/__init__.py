"""Validation of ledger entries: two phases, prepare (parallel, stateless) then apply (in order).

``prepare(raw, keys)`` runs on a thread pool; ``apply(prepared, index, state)`` runs in log order
against the state after the previous entry; ``validate_block`` does both over one block.
"""

from ledger.state.membership import KeyResolver
from ledger.validation.apply import Validated, apply, validate_block
from ledger.validation.codes import ValidationCode
from ledger.validation.prepare import Decoded, Prepared, decode, prepare

__all__ = [
    "Decoded",
    "KeyResolver",
    "Prepared",
    "Validated",
    "ValidationCode",
    "apply",
    "decode",
    "prepare",
    "validate_block",
]
