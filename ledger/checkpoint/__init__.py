"""Cosigned checkpoints (ARCHITECTURE.md section 3): sign, verify, compare, and reach finality.

Pure: no clock, storage or network. The I/O shell is ``ledger.node.checkpointer``.
"""

from ledger.checkpoint.book import CheckpointBook
from ledger.checkpoint.cosigned import CosignedCheckpoint, decode_cosigned, verify_cosigned
from ledger.checkpoint.electorate import Electorate, electorate_of
from ledger.checkpoint.findings import Divergence, DivergenceKind, Equivocation, Finding
from ledger.checkpoint.signed import (
    Checkpoint,
    Cosignature,
    KeyLookup,
    Rejection,
    SignedCheckpoint,
    decode_and_verify,
    decode_checkpoint,
    sign_checkpoint,
    verify_signed,
)

__all__ = [
    "Checkpoint",
    "CheckpointBook",
    "Cosignature",
    "CosignedCheckpoint",
    "Divergence",
    "DivergenceKind",
    "Electorate",
    "Equivocation",
    "Finding",
    "KeyLookup",
    "Rejection",
    "SignedCheckpoint",
    "decode_and_verify",
    "decode_checkpoint",
    "decode_cosigned",
    "electorate_of",
    "sign_checkpoint",
    "verify_cosigned",
    "verify_signed",
]
