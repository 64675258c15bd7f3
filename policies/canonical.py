"""Canonical JSON and SHA-256 digests, local to `policies` (which may import nothing of ours).

Same rules as the ledger's encoding: UTF-8, keys sorted by UTF-16 code units (RFC 8785 section
3.2.3), no whitespace, integers only. Two gateways that hold the same value produce the same bytes,
so a decision's input digest can be recomputed by anyone replaying it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from policies.errors import EncodingError

MAX_SAFE_INTEGER = 2**53 - 1
"""Integers beyond this cannot round-trip through an IEEE double (I-JSON, RFC 7493)."""

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def canonical(value: Any) -> bytes:
    """Encode `value` canonically. Requires: dict (str keys), list/tuple, str, int, bool, None."""
    out: list[str] = []
    _emit(value, out, "$")
    return "".join(out).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """Hex SHA-256 of the canonical encoding of `value`. Raises EncodingError."""
    return sha256_hex(canonical(value))


def ascii_keyed_digest(value: Mapping[str, Any]) -> str:
    """Fast `digest` for values built by this package: every key ASCII, every int I-JSON safe.

    With ASCII keys, code-point order equals UTF-16 order, and orjson escapes exactly as the
    canonical encoder does, so its sorted compact output is the canonical bytes (a property test
    checks it against `canonical`). The decision hot path. Raises EncodingError.
    """
    try:
        return sha256_hex(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    except orjson.JSONEncodeError as exc:
        raise EncodingError("$", f"not canonical JSON: {exc}") from exc


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
        _emit_object(value, out, path)
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


def _emit_object(value: Mapping[Any, Any], out: list[str], path: str) -> None:
    for key in value:
        if not isinstance(key, str):
            raise EncodingError(path, "object keys must be strings")
    out.append("{")
    for i, key in enumerate(sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))):
        if i:
            out.append(",")
        out.append(_ENCODER.encode(key))
        out.append(":")
        _emit(value[key], out, f"{path}.{key}")
    out.append("}")
