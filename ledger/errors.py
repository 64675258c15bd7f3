"""Errors of the ledger package.

LedgerError                      root: everything the ledger raises on purpose
 +-- EncodingError               bytes are not canonical JSON / a value cannot be encoded (path, problem)
 +-- MerkleError                 a Merkle proof or tree request is invalid
 |    +-- RootMismatchError      a proof verified to a different root (expected, calculated)
 |    +-- TreeRangeError         an index or size lies outside the tree (what, value, size)
 |    +-- MalformedProofError    a proof or hash has the wrong shape: count, length (problem)
 +-- StorageError                the store failed or holds something inconsistent
 |    +-- ConflictError          an append does not extend the current head (expected, got)
 +-- OrderingError               the ordering service failed or broke its contract
 |    +-- OrderingGapError       the ordered stream skipped or repeated a position (expected, got)
 |    +-- OrderingMismatchError  the stream contradicts a stored position (position, problem): fatal
 +-- VerificationError           `ledger verify` found the first bad height (height, problem)
 +-- KeyFormatError              a public key or signature encoding is unusable (problem)
 +-- EntryError                  an entry breaks a rule: its ValidationCode value (code, problem);
                                 raised by decode_entry and inside validation, never out of apply
 +-- GenesisError                the genesis material is invalid or belongs to another consortium
 +-- CheckpointError             a checkpoint message or cosigned checkpoint is refused (reason, problem)

An invalid *entry* is not an exception: it is a ValidationCode recorded with the entry (Fabric's rule).
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of the ledger's errors."""


class EncodingError(LedgerError):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class MerkleError(LedgerError):
    """A proof or tree request is malformed or out of range."""


class RootMismatchError(MerkleError):
    def __init__(self, expected: bytes, calculated: bytes) -> None:
        super().__init__(f"root mismatch: expected {expected.hex()}, calculated {calculated.hex()}")
        self.expected = expected
        self.calculated = calculated


class TreeRangeError(MerkleError):
    """A leaf index or tree size outside what the tree (or the request) allows."""

    def __init__(self, what: str, value: int, size: int) -> None:
        super().__init__(f"{what} {value} out of range for tree size {size}")
        self.what = what
        self.value = value
        self.size = size


class MalformedProofError(MerkleError):
    """A proof with the wrong number of hashes, or a hash that is not a 32-byte digest."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"malformed proof: {problem}")
        self.problem = problem


class StorageError(LedgerError):
    """The store failed or is inconsistent."""


class ConflictError(StorageError):
    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"append conflict: store head is {expected}, block claims {got}")
        self.expected = expected
        self.got = got


class OrderingError(LedgerError):
    """The ordering service failed or broke its contract."""


class OrderingGapError(OrderingError):
    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"ordered stream gap: expected position {expected}, got {got}")
        self.expected = expected
        self.got = got


class OrderingMismatchError(OrderingError):
    """The ordering service's stream no longer agrees with what this gateway committed (e.g. it is
    shorter than the stored position, or was recreated): stop, never re-read from it."""

    def __init__(self, position: int, problem: str) -> None:
        super().__init__(f"ordered stream mismatch at position {position}: {problem}")
        self.position = position
        self.problem = problem


class VerificationError(LedgerError):
    def __init__(self, height: int, problem: str) -> None:
        super().__init__(f"height {height}: {problem}")
        self.height = height
        self.problem = problem


class GenesisError(LedgerError):
    """The genesis entry is invalid, or the store was started from another consortium's genesis."""


class KeyFormatError(LedgerError):
    """A public key is not a supported algorithm's key, or an encoding is not strict base64url."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class EntryError(LedgerError):
    """An entry breaks a rule; ``code`` is the ValidationCode value recorded with it."""

    def __init__(self, code: int, problem: str) -> None:
        super().__init__(f"entry rejected ({code}): {problem}")
        self.code = code
        self.problem = problem


class CheckpointError(LedgerError):
    """A checkpoint is refused: malformed, wrong consortium, unknown signer, bad signature, too far
    ahead, or (for a cosigned checkpoint) short of a quorum. ``reason`` is a short stable label that
    metrics count by; a peer's refused checkpoint is ignored, never fatal."""

    def __init__(self, reason: str, problem: str) -> None:
        super().__init__(f"checkpoint refused ({reason}): {problem}")
        self.reason = reason
        self.problem = problem
