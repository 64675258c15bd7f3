"""Validation codes: why an ordered entry is invalid (0 when it is valid).

The numbers are hashed into block headers (``codes_digest``), so they are part of the format: never
renumber or reuse a value; add new codes at the end.
"""

from __future__ import annotations

from enum import IntEnum


class ValidationCode(IntEnum):
    VALID = 0
    MALFORMED = 1
    """Not canonical JSON, or not the ``{tx, sig, endorsements}`` shape."""
    TOO_LARGE = 2
    """The leaf exceeds MAX_LEAF_BYTES."""
    BAD_VERSION = 3
    UNSUPPORTED_ALG = 4
    UNKNOWN_TYPE = 5
    BAD_BODY = 6
    """The body does not follow its type's schema, or is inconsistent in itself or with state."""
    UNKNOWN_MEMBER = 7
    MEMBER_INACTIVE = 8
    UNKNOWN_KEY = 9
    """The kid is not a signing key of the submitting (or endorsing) org."""
    KEY_RETIRED = 10
    BAD_SIGNATURE = 11
    NONCE_REUSED = 12
    DUPLICATE_TXID = 13
    ROLE_FORBIDDEN = 14
    QUORUM_NOT_MET = 15
    BAD_ENDORSEMENT = 16
    """An endorsement by an active member's known key whose signature does not verify."""
    NOT_FOUND = 17
    NOT_OWNER = 18
    ALREADY_EXISTS = 19
    ALREADY_REVOKED = 20
    GENESIS_MISPLACED = 21
    """A genesis entry after index 0, or anything else at index 0."""
    VALIDATOR_FAULT = 22
    """A check of this entry failed in a way no rule foresaw (a bug in the validator). Like any code it
    is a pure function of the entry and the state, so every node records the same one; the node
    logs it at ERROR and counts it, and keeps committing."""
    QUORUM_UNREACHABLE = 23
    """A governance change after which the quorum rule in force could never be met (a member.remove
    leaving fewer active members than a k-of-n rule's k, or none at all)."""
