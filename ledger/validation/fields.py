"""The field types of entry bodies, as typed msgspec constraints, and the checks types cannot say.

Formats are tight on purpose: the ledger must hold no PHI, so free text is limited to names of
organisations, and everything about a patient is a pseudonym, an id, a code or a digest.

Every pattern is anchored with ``\\A...\\Z`` (msgspec searches, it does not full-match; ``$`` would
let a trailing newline through) and every integer is bounded to the I-JSON safe range. A body is
judged in two steps (``Body.judge``): its shape (fields, types, formats: any fault is BAD_BODY),
then the checks below, in the order each body's ``check`` calls them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import msgspec
from msgspec import UNSET, Meta, UnsetType

from ledger.canonical import MAX_SAFE_INTEGER
from ledger.errors import EntryError, KeyFormatError
from ledger.signing import b64url_decode
from ledger.validation.codes import ValidationCode

MAX_LIST = 64


def _pattern(regex: str) -> Meta:
    return Meta(pattern=rf"\A(?:{regex})\Z")


Org = Annotated[str, _pattern(r"[a-z0-9][a-z0-9-]{0,62}")]
"""An organisation id (``tx.org`` has the same format)."""
Kid = Annotated[str, _pattern(r"[A-Za-z0-9_-]{43}")]
"""A key id: base64url of a SHA-256 thumbprint."""
Ident = Annotated[str, _pattern(r"[A-Za-z0-9._:-]{1,128}")]
"""Consent and grant ids: no ``/`` (it separates the parts of index keys)."""
Code = Annotated[str, _pattern(r"[A-Za-z0-9._:-]{1,64}")]
"""Purposes (HL7 ActReason), reasons, roles of requesters, policy versions, obligations."""
JoseAlg = Annotated[str, _pattern(r"[A-Za-z0-9.+_-]{1,64}")]
"""A JOSE algorithm name such as ``ECDH-ES+A256KW`` or ``HPKE-9-KE``."""
ResourceType = Annotated[str, _pattern(r"\*|[A-Z][A-Za-z]{0,63}")]
"""A FHIR resource type name, or ``*`` for every type."""
Hex64 = Annotated[str, _pattern(r"[0-9a-f]{64}")]
"""A SHA-256 digest in lowercase hex."""
PatientRef = Annotated[str, _pattern(r"[A-Za-z0-9_-]{43}")]
"""base64url of an HMAC-SHA256: 32 bytes, 43 characters."""
Ms = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]
"""Epoch milliseconds."""
Name = Annotated[str, Meta(min_length=1, max_length=200)]
"""Printable text (checked by ``printable``): names of organisations and consortia."""
Url = Annotated[str, Meta(min_length=1, max_length=2048)]
"""An absolute http(s) URL (checked by ``endpoint``)."""
Der = Annotated[str, Meta(min_length=1, max_length=16384)]
"""base64url without padding (checked by ``der_b64url``): certificates."""

ResourceTypes = Annotated[list[ResourceType], Meta(min_length=1, max_length=MAX_LIST)]
Codes = Annotated[list[Code], Meta(min_length=1, max_length=MAX_LIST)]
Codes0 = Annotated[list[Code], Meta(max_length=MAX_LIST)]
"""A possibly empty list of codes."""
Idents0 = Annotated[list[Ident], Meta(max_length=MAX_LIST)]
"""Lists are also distinct: each body's ``check`` calls ``unique`` on them."""

T = TypeVar("T")


def bad(problem: str) -> NoReturn:
    raise EntryError(ValidationCode.BAD_BODY, problem)


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An entry type's body: fields, types and formats are its shape; ``check`` does the rest."""

    def check(self) -> None:
        """The checks a type cannot express (uniqueness, orders, key material), in a fixed order."""

    @classmethod
    def judge(cls: type[T], value: Mapping[str, Any]) -> T:
        """The typed body of ``value``, or EntryError: BAD_BODY, or UNSUPPORTED_ALG for a signing
        key of an unregistered algorithm. Requires ``value`` from ``parse_canonical``."""
        try:
            body = msgspec.convert(value, cls, strict=True)
        except msgspec.ValidationError as exc:
            raise EntryError(ValidationCode.BAD_BODY, str(exc)) from exc
        body.check()  # type: ignore[attr-defined]
        return body


class Period(Body):
    """A closed time range in epoch ms; either end may be open."""

    start: Ms | UnsetType = UNSET
    end: Ms | UnsetType = UNSET

    def ends(self) -> tuple[int | None, int | None]:
        start = None if isinstance(self.start, UnsetType) else self.start
        end = None if isinstance(self.end, UnsetType) else self.end
        return start, end


def unique(values: Sequence[Any], what: str) -> None:
    """No two items alike (compared by their canonical encoding: they came from one)."""
    # Strings as they are (most lists are of codes), anything else by its encoding.
    encoded = [v if isinstance(v, str) else msgspec.json.encode(v) for v in values]
    if len(set(encoded)) != len(encoded):
        bad(f"{what} has duplicates")


def unique_values(values: Sequence[str], what: str) -> None:
    if len(set(values)) != len(values):
        bad(f"{what} are not unique")


def checked(values: Sequence[Body], what: str) -> None:
    """Each item's own checks, in list order, then no duplicates."""
    for item in values:
        item.check()
    unique(values, what)


def printable(value: str, what: str) -> None:
    """Printable text without control characters."""
    if not value.isprintable():
        bad(f"{what} is not printable text")


def endpoint(value: str, what: str = "endpoint") -> None:
    """An absolute http(s) URL (http for the embedded single-machine demo)."""
    printable(value, what)
    try:
        parts = urlsplit(value)
    except ValueError:  # an unbalanced IPv6 bracket, say: a refusal, not a crash
        bad(f"{what} is not an http(s) URL")
    if parts.scheme not in {"https", "http"} or not parts.netloc:
        bad(f"{what} is not an http(s) URL")


def der_b64url(values: Sequence[str], what: str) -> None:
    """Each is base64url without padding, as every key and certificate on the ledger is written."""
    for value in values:
        try:
            b64url_decode(value)
        except KeyFormatError:
            bad(f"{what} is not unpadded base64url")
    unique(values, what)


def ordered(start: int | None, end: int | None, what: str) -> None:
    if start is not None and end is not None and start > end:
        bad(f"{what} ends before it starts")
