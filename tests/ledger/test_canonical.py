"""Canonical JSON: the fast encoder equals the reference encoder; what JSON cannot hold is refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import (
    MAX_SAFE_INTEGER,
    canonical,
    canonical_reference,
    parse,
    parse_canonical,
)
from ledger.errors import EncodingError

keys = st.text(max_size=6)  # includes astral and control characters
leaves = (
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.text(max_size=12)
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400)
@given(values)
def test_fast_encoder_equals_reference(value: object) -> None:
    assert canonical(value) == canonical_reference(value)


@settings(max_examples=200)
@given(values)
def test_parse_round_trips(value: object) -> None:
    assert parse(canonical(value)) == value


def test_keys_sort_by_utf16_code_units() -> None:
    # U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FFFF (code-point order says after).
    assert canonical({"\uffff": 1, "\U0001f600": 2}) == '{"😀":2,"\uffff":1}'.encode()


@pytest.mark.parametrize(
    "bad", [1.5, {"a": float("nan")}, [2**53], {1: "x"}, b"bytes", {"s": {1, 2}}]
)
def test_unencodable_values_are_refused(bad: object) -> None:
    with pytest.raises(EncodingError):
        canonical(bad)


@pytest.mark.parametrize("raw", [b'{"a":1.0}', b'{"a":1,"a":2}', b"NaN", b"[1e3]", b"{"])
def test_strict_parse_refuses(raw: bytes) -> None:
    with pytest.raises(EncodingError):
        parse(raw)


@settings(max_examples=300)
@given(values)
def test_parse_canonical_accepts_exactly_canonical_bytes(value: object) -> None:
    raw = canonical(value)
    assert parse_canonical(raw) == value
    if raw[:1] in (b"{", b"["):
        with pytest.raises(EncodingError):
            parse_canonical(raw[:1] + b" " + raw[1:])


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1,"a":1}',
        b'{"a":1.0}',
        b'{"b":1,"a":2}',
        b'{"a": 1}',
        b"[9007199254740993]",
        b'"\\u0041"',
    ],
)
def test_parse_canonical_refuses_other_spellings(raw: bytes) -> None:
    with pytest.raises(EncodingError):
        parse_canonical(raw)
