"""Errors of the policies package: what the decision point raises on purpose.

PolicyError                      root: everything `policies` raises on purpose
 +-- PolicyDocumentError         the consortium policy document is malformed (path, problem)
 +-- FactsError                  a consent, terms or grant fact is malformed (path, problem)
 +-- EncodingError               a value cannot be encoded as canonical JSON (path, problem)
 +-- RecordError                 an `access.record` body cannot be replayed (path, problem)
 +-- VocabularyError             a code outside the closed vocabulary (what, code)
      +-- ObligationError        ... of obligations (policies.obligations)
      +-- ReasonError            ... of reasons (policies.reasons)

A denial is a `Decision` with effect DENY, never an exception. `decide` itself does not raise for
bad facts: a malformed fact lands in `Facts.errors` and every decision over those facts denies.
"""

from __future__ import annotations


class PolicyError(Exception):
    """Root of the policies package's errors."""


class _PathError(PolicyError):
    """An error located at a path inside a document (`roles.insurer.purposes.HPAYMT.basis`)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class PolicyDocumentError(_PathError):
    """The consortium policy document is malformed at `path`."""


class FactsError(_PathError):
    """A fact (FHIR Consent, consent terms, grant) is malformed at `path`."""


class EncodingError(_PathError):
    """A value is not canonical JSON at `path` (floats, non-string keys, unsafe integers)."""


class RecordError(_PathError):
    """An `access.record` body lacks a field or holds a wrong type at `path`."""


class VocabularyError(PolicyError):
    """`code` is not in the closed vocabulary of `what` (obligations, reasons)."""

    what = "code"

    def __init__(self, code: str) -> None:
        super().__init__(f"not one of the {self.what} of the vocabulary: {code!r}")
        self.code = code


class ObligationError(VocabularyError):
    what = "obligations"


class ReasonError(VocabularyError):
    what = "reasons"
