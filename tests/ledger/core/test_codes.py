"""Validation code numbers are hashed into block headers: they must never change."""

from __future__ import annotations

from ledger.validation.codes import ValidationCode

PINNED = {
    "VALID": 0, "MALFORMED": 1, "TOO_LARGE": 2, "BAD_VERSION": 3, "UNSUPPORTED_ALG": 4,
    "UNKNOWN_TYPE": 5, "BAD_BODY": 6, "UNKNOWN_MEMBER": 7, "MEMBER_INACTIVE": 8, "UNKNOWN_KEY": 9,
    "KEY_RETIRED": 10, "BAD_SIGNATURE": 11, "NONCE_REUSED": 12, "DUPLICATE_TXID": 13,
    "ROLE_FORBIDDEN": 14, "QUORUM_NOT_MET": 15, "BAD_ENDORSEMENT": 16, "NOT_FOUND": 17,
    "NOT_OWNER": 18, "ALREADY_EXISTS": 19, "ALREADY_REVOKED": 20, "GENESIS_MISPLACED": 21,
    "VALIDATOR_FAULT": 22, "QUORUM_UNREACHABLE": 23,
}  # fmt: skip


def test_code_numbers_are_pinned() -> None:
    assert {code.name: code.value for code in ValidationCode} == PINNED
