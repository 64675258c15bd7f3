"""The validator's safety net: an unforeseen exception while judging one entry becomes a code.

Every member validates every ordered entry, so an exception that escaped validation would stop every
node on the same signed entry: one entry would halt the consortium. Instead the entry is recorded
with VALIDATOR_FAULT and changes no state, and the fault is logged at ERROR for an operator (the
committer also counts these codes as a metric).

Which exceptions become a code matters for agreement: the code must be the same on every node. A
pure check that raises on some input raises on every node for that input, so ordinary exceptions
are safe to turn into a code. ``MemoryError`` and ``RecursionError`` depend on the machine and the
caller's stack, not only on the entry: they are let through (the node stops, as on a store fault)
rather than risk one node recording a code another does not. Entry content cannot cause either:
leaves are bounded in size and in nesting depth before any check recurses.
"""

from __future__ import annotations

import logging
import traceback

from ledger.validation.codes import ValidationCode

log = logging.getLogger("medgate.ledger.validation")

ENVIRONMENT_FAULTS: tuple[type[BaseException], ...] = (MemoryError, RecursionError)
"""Exceptions that say something about this machine, not the entry: never turned into a code."""


def fault(phase: str, tx_id: str, entry_type: str | None, exc: Exception) -> ValidationCode:
    """Log an unforeseen validator exception and return the code the entry is recorded with.

    The log names the exception's class and the entry, never the body or the exception's text,
    which may quote body values."""
    log.error(
        "validator fault: entry recorded as VALIDATOR_FAULT",
        extra={
            "phase": phase,
            "tx_id": tx_id,
            "entry_type": entry_type,
            "exception": type(exc).__name__,
            "where": _innermost(exc),
        },
    )
    return ValidationCode.VALIDATOR_FAULT


def _innermost(exc: BaseException) -> str:
    """``file:line`` where ``exc`` was raised: enough to find the bug, and carries no data."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
