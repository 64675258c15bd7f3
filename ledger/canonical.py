"""Canonical JSON: the RFC 8785 subset that needs no number formatting (integers only, no floats).

Every hash and signature in the ledger is taken over these bytes, so two gateways that hold the same
value always produce the same bytes. Keys are sorted by UTF-16 code units (RFC 8785 section 3.2.3),
strings are emitted as UTF-8 with only the escapes JSON requires, and there is no whitespace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ledger.errors import EncodingError

MAX_SAFE_INTEGER = 2**53 - 1
"""Integers beyond this cannot round-trip through an IEEE double (I-JSON, RFC 7493)."""
MAX_DEPTH = 254
"""Deepest nesting of arrays and objects ``parse_canonical`` accepts: orjson's encoder limit, so the
bound is the same on every node whatever its stack (deeper leaves are refused as not canonical)."""

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


_ASTRAL = re.compile(rb"[\xf0-\xf4]")
"""A UTF-8 lead byte of a character outside the BMP: only there can code-point order (orjson's
key order) differ from RFC 8785's UTF-16 order, so only then is the reference encoder needed."""


def canonical(value: Any) -> bytes:
    """Encode ``value`` canonically. Requires: only dict (str keys), list/tuple, str, int, bool, None.

    Hashes and signatures over every entry go through here, so it is on the ledger's hot path:
    orjson encodes after a type check, and the reference encoder (``canonical_reference``) takes
    over whenever the two could differ. A property test holds them equal.
    """
    _check(value, "$")
    try:
        out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a Mapping that is not a dict, or a str that is not valid Unicode
        return canonical_reference(value)
    return out if out.isascii() or _ASTRAL.search(out) is None else canonical_reference(value)


def canonical_parsed(value: Any) -> bytes:
    """``canonical`` for a value straight from ``parse``, which already refused everything
    canonical JSON cannot hold (floats, unsafe integers, non-string keys): skips the type walk."""
    try:
        out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a str that is not valid Unicode (a lone surrogate escape)
        return canonical_reference(value)
    # isascii (a C scan) first: almost every ledger value is ASCII, and then the regex cannot match.
    return out if out.isascii() or _ASTRAL.search(out) is None else canonical_reference(value)


def canonical_reference(value: Any) -> bytes:
    """The plain RFC 8785-subset encoder: slow, obviously right, the fast path's reference."""
    out: list[str] = []
    _emit(value, out, "$")
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodingError("$", "string is not valid Unicode (lone surrogate)") from exc


def _check(value: Any, path: str) -> None:
    """Refuse what canonical JSON cannot hold, before the fast encoder could accept it.

    Exact types first (all orjson's parser makes, and almost all a gateway builds): an
    ``isinstance`` against ``Mapping`` is an ABC check, several times slower, and this walk runs
    over every entry signed and every leaf decoded. Subclasses take the general path below."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return
    if kind is int:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise EncodingError(path, "integer outside the I-JSON safe range")
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str and not isinstance(key, str):
                raise EncodingError(path, "object keys must be strings")
            if type(item) is not str:
                _check(item, path)
        return
    if kind is list or kind is tuple:
        for item in value:
            if type(item) is not str:
                _check(item, path)
        return
    _check_general(value, path)


def _check_general(value: Any, path: str) -> None:
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise EncodingError(path, "integer outside the I-JSON safe range")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodingError(path, "object keys must be strings")
            _check(item, path)
    elif isinstance(value, list | tuple):
        for item in value:
            _check(item, path)
    else:
        raise EncodingError(
            path, f"{type(value).__name__} is not canonical JSON (floats are refused)"
        )


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _emit(value: Any, out: list[str], path: str) -> None:
    if value is None or isinstance(value, bool):
        out.append("null" if value is None else ("true" if value else "false"))
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise EncodingError(path, "integer outside the I-JSON safe range")
        out.append(str(value))
    elif isinstance(value, str):
        out.append(_ENCODER.encode(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, key in enumerate(sorted(value, key=_key_order(path))):
            if i:
                out.append(",")
            out.append(_ENCODER.encode(key))
            out.append(":")
            _emit(value[key], out, f"{path}.{key}")
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _emit(item, out, f"{path}[{i}]")
        out.append("]")
    else:
        raise EncodingError(
            path, f"{type(value).__name__} is not canonical JSON (floats are refused)"
        )


def _key_order(path: str) -> Any:
    def order(key: object) -> bytes:
        if not isinstance(key, str):
            raise EncodingError(path, "object keys must be strings")
        return _utf16_key(key)

    return order


def parse_canonical(raw: bytes) -> Any:
    """The value of ``raw`` if and only if ``raw`` is exactly its canonical encoding.

    Equivalent to ``parse`` followed by ``canonical(value) == raw``, but fast: orjson parses, the
    type walk refuses floats and unsafe integers, and the byte comparison refuses everything else
    (duplicate keys, whitespace, key order, escapes), since none of it survives re-encoding.
    Raises EncodingError.
    """
    try:
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, RecursionError) as exc:
        raise EncodingError("$", f"not JSON: {exc.__class__.__name__}") from exc
    try:
        # Encoded before the type walk: orjson refuses nesting past MAX_DEPTH here, so the
        # walk and the reference encoder below never recurse deep enough for a RecursionError,
        # which would depend on the caller's stack, not on the entry.
        out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:  # orjson.loads refused lone surrogates: only the depth is left
        raise EncodingError("$", f"nested deeper than {MAX_DEPTH}") from exc
    _check(value, "$")
    if not (out.isascii() or _ASTRAL.search(out) is None):
        out = canonical_reference(value)
    if out != raw:
        raise EncodingError("$", "not in canonical form")
    return value


def trusted(raw: bytes) -> Any:
    """Decode bytes this ledger wrote itself with ``canonical`` (its own state rows): no checks."""
    return orjson.loads(raw)


def parse(raw: bytes) -> Any:
    """Parse JSON strictly: refuses floats, NaN/Infinity, integers beyond the I-JSON safe range and
    duplicate keys, so what it returns is always encodable by ``canonical_parsed``.
    Raises EncodingError."""
    try:
        return json.loads(
            raw,
            parse_float=_refuse_float,
            parse_int=_safe_int,
            parse_constant=_refuse_float,
            object_pairs_hook=_no_duplicates,
        )
    except EncodingError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise EncodingError("$", f"not JSON: {exc.__class__.__name__}") from exc


def _safe_int(text: str) -> int:
    value = int(text)
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise EncodingError("$", "integer outside the I-JSON safe range")
    return value


def _refuse_float(text: str) -> Any:
    raise EncodingError("$", f"non-integer number {text!r}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise EncodingError("$", f"duplicate key {key!r}")
        result[key] = value
    return result
