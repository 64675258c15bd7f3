"""Checks of body fields: each returns the value when it conforms, else raises EntryError(BAD_BODY).

Formats are tight on purpose: the ledger must hold no PHI, so free text is limited to names of
organisations, and everything about a patient is a pseudonym, an id, a code or a digest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from ledger.canonical import MAX_SAFE_INTEGER
from ledger.entries import KID_RE, ORG_RE
from ledger.errors import EntryError, KeyFormatError
from ledger.ids import Digest, Kid, OrgId, PatientRef
from ledger.signing import b64url_decode
from ledger.validation.codes import ValidationCode

T = TypeVar("T")

ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
"""Consent and grant ids: no ``/`` (it separates the parts of index keys)."""
CODE_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""Purposes (HL7 ActReason), reasons, roles of requesters, policy versions."""
JOSE_ALG_RE = re.compile(r"[A-Za-z0-9.+_-]{1,64}")
"""A JOSE algorithm name such as ``ECDH-ES+A256KW`` or ``HPKE-9-KE``."""
RESOURCE_RE = re.compile(r"\*|[A-Z][A-Za-z]{0,63}")
"""A FHIR resource type name, or ``*`` for every type."""
HEX64_RE = re.compile(r"[0-9a-f]{64}")
PATIENT_REF_RE = re.compile(r"[A-Za-z0-9_-]{43}")
"""base64url of an HMAC-SHA256: 32 bytes, 43 characters."""
MAX_LIST = 64


def bad(problem: str) -> NoReturn:
    raise EntryError(ValidationCode.BAD_BODY, problem)


def obj(
    value: object, what: str, required: frozenset[str], optional: frozenset[str] = frozenset()
) -> Mapping[str, Any]:
    """An object with all of ``required``, any of ``optional``, and nothing else."""
    if not isinstance(value, dict):
        bad(f"{what} is not an object")
    keys = set(value)
    if not required <= keys or not keys <= required | optional:
        bad(f"{what} fields: need {sorted(required)}, may have {sorted(optional)}")
    return value


def _match(value: object, what: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        bad(f"{what} is not in the expected format")
    return value


def org(value: object, what: str) -> OrgId:
    return OrgId(_match(value, what, ORG_RE))


def kid(value: object, what: str) -> Kid:
    return Kid(_match(value, what, KID_RE))


def ident(value: object, what: str) -> str:
    return _match(value, what, ID_RE)


def code(value: object, what: str) -> str:
    return _match(value, what, CODE_RE)


def jose_alg(value: object, what: str) -> str:
    return _match(value, what, JOSE_ALG_RE)


def resource_type(value: object, what: str) -> str:
    return _match(value, what, RESOURCE_RE)


def hex64(value: object, what: str) -> Digest:
    return Digest(_match(value, what, HEX64_RE))


def patient_ref(value: object, what: str = "patient_ref") -> PatientRef:
    return PatientRef(_match(value, what, PATIENT_REF_RE))


def text(value: object, what: str, max_len: int = 200) -> str:
    """Printable text without control characters (names of organisations and consortia)."""
    if not isinstance(value, str) or not 0 < len(value) <= max_len or not value.isprintable():
        bad(f"{what} is not 1-{max_len} printable characters")
    return value


def ms(value: object, what: str) -> int:
    """Epoch milliseconds."""
    if not isinstance(value, int) or isinstance(value, bool):
        bad(f"{what} is not an integer")
    if not 0 <= value <= MAX_SAFE_INTEGER:
        bad(f"{what} is out of range")
    return value


def one_of(value: object, what: str, choices: frozenset[str]) -> str:
    """One of ``choices``. The type is checked first: a list or an object is unhashable, and a
    membership test on it would raise instead of refusing the entry."""
    if not isinstance(value, str) or value not in choices:
        bad(f"{what} is not one of {sorted(choices)}")
    return value


def boolean(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        bad(f"{what} is not a boolean")
    return value


def items(
    value: object,
    what: str,
    check: Callable[[object, str], T],
    min_len: int = 1,
    max_len: int = MAX_LIST,
) -> list[T]:
    """A list of ``min_len``..``max_len`` distinct items, each passing ``check``."""
    if not isinstance(value, list) or not min_len <= len(value) <= max_len:
        bad(f"{what} is not a list of {min_len}-{max_len} items")
    out = [check(item, f"{what}[{i}]") for i, item in enumerate(value)]
    if len({repr(item) for item in out}) != len(out):
        bad(f"{what} has duplicates")
    return out


def endpoint(value: object, what: str = "endpoint") -> str:
    """An absolute http(s) URL (http for the embedded single-machine demo)."""
    url = text(value, what, 2048)
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced IPv6 bracket, say: a refusal, not a crash
        bad(f"{what} is not an http(s) URL")
    if parts.scheme not in {"https", "http"} or not parts.netloc:
        bad(f"{what} is not an http(s) URL")
    return url


def der_b64url(value: object, what: str) -> str:
    """base64url without padding, as every key and certificate on the ledger is written."""
    if not isinstance(value, str) or not value or len(value) > 16384:
        bad(f"{what} is not base64url")
    try:
        b64url_decode(value)
    except KeyFormatError:
        bad(f"{what} is not unpadded base64url")
    return value
