"""Canonical JSON: the RFC 8785 subset that needs no number formatting (integers only, no floats).

Every hash and signature in the ledger is taken over these bytes, so two gateways that hold the same
value always produce the same bytes. Keys are sorted by UTF-16 code units (RFC 8785 section 3.2.3),
strings are emitted as UTF-8 with only the escapes JSON requires, and there is no whitespace.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ledger.errors import EncodingError

MAX_SAFE_INTEGER = 2**53 - 1
"""Integers beyond this cannot round-trip through an IEEE double (I-JSON, RFC 7493)."""

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def canonical(value: Any) -> bytes:
    """Encode ``value`` canonically. Requires: only dict (str keys), list/tuple, str, int, bool, None."""
    out: list[str] = []
    _emit(value, out, "$")
    return "".join(out).encode("utf-8")


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


def parse(raw: bytes) -> Any:
    """Parse JSON strictly: refuses floats, NaN/Infinity and duplicate keys. Raises EncodingError."""
    try:
        return json.loads(
            raw,
            parse_float=_refuse_float,
            parse_constant=_refuse_float,
            object_pairs_hook=_no_duplicates,
        )
    except EncodingError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise EncodingError("$", f"not JSON: {exc.__class__.__name__}") from exc


def _refuse_float(text: str) -> Any:
    raise EncodingError("$", f"non-integer number {text!r}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise EncodingError("$", f"duplicate key {key!r}")
        result[key] = value
    return result
