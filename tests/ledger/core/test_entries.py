"""Entry wire format: build, sign, decode, tx ids, refusals of malformed leaves, and cut markers."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from ledger.canonical import canonical
from ledger.entries import (
    MAX_LEAF_BYTES,
    decode_cut,
    decode_entry,
    encode_cut,
    is_cut_marker,
    leaf_tx_id,
    make_tx,
    nonce_from_bytes,
    sign_entry,
    signed_entry,
    tx_id_of,
)
from ledger.errors import EntryError
from ledger.ids import OrgId
from ledger.signing import generate_signing_key, kid_of, verify
from ledger.validation.codes import ValidationCode

ORG = OrgId("hospital-a")


def _tx(**override: Any) -> dict[str, Any]:
    key = generate_signing_key()
    tx = make_tx(
        "consent.revoke", ORG, kid_of(key.public_key()), 5, nonce_from_bytes(bytes(16)), {}
    )
    tx.update(override)
    return tx


def _leaf(tx: Any, sig: Any = "x", endorsements: Any = ()) -> bytes:
    return canonical({"tx": tx, "sig": sig, "endorsements": list(endorsements)})


def test_round_trip_and_tx_id() -> None:
    key, other = generate_signing_key(), generate_signing_key()
    tx = make_tx(
        "member.remove", ORG, kid_of(key.public_key()), 7, nonce_from_bytes(b"n" * 16), {"org": "x"}
    )
    leaf = sign_entry(tx, key, {OrgId("insurer-b"): other})
    entry = decode_entry(leaf)
    assert entry.tx == tx
    assert entry.tx_id == hashlib.sha256(canonical(tx)).hexdigest() == tx_id_of(tx)
    assert leaf_tx_id(leaf) == entry.tx_id
    assert entry.message == canonical(tx)
    assert verify(key.public_key(), entry.message, entry.sig)
    assert [e.org for e in entry.endorsements] == ["insurer-b"]
    assert verify(other.public_key(), entry.message, entry.endorsements[0].sig)
    assert (entry.type, entry.org, entry.ts, entry.alg) == ("member.remove", ORG, 7, "ES256")


@pytest.mark.parametrize("body", [{}, {"org": "x", "n": [1, -2, {"é": None, "😀": True}]}])
def test_the_leaf_built_around_one_encoding_is_the_canonical_leaf(body: dict[str, Any]) -> None:
    key, other = generate_signing_key(), generate_signing_key()
    tx = make_tx(
        "member.remove", ORG, kid_of(key.public_key()), 7, nonce_from_bytes(b"m" * 16), body
    )
    tx_id, leaf = signed_entry(tx, key, {OrgId("insurer-b"): other})
    value = decode_entry(leaf)  # refuses any leaf that is not its own canonical encoding
    assert (
        canonical(
            {
                "tx": tx,
                "sig": value.sig,
                "endorsements": [
                    {
                        "org": "insurer-b",
                        "kid": kid_of(other.public_key()),
                        "sig": value.endorsements[0].sig,
                    }
                ],
            }
        )
        == leaf
    )
    assert tx_id == tx_id_of(tx) == value.tx_id
    assert verify(key.public_key(), canonical(tx), value.sig)
    assert verify(other.public_key(), canonical(tx), value.endorsements[0].sig)


def test_resigning_keeps_the_tx_id() -> None:
    tx = _tx()
    first = sign_entry(tx, generate_signing_key())
    second = sign_entry(tx, generate_signing_key())
    assert first != second
    assert leaf_tx_id(first) == leaf_tx_id(second)


def test_nonce_needs_16_bytes() -> None:
    assert len(nonce_from_bytes(bytes(16))) == 22
    with pytest.raises(ValueError, match="16"):
        nonce_from_bytes(bytes(15))


def _code(raw: bytes) -> int:
    with pytest.raises(EntryError) as info:
        decode_entry(raw)
    return info.value.code


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"endorsements": [], "sig": "x", "tx": {}}',  # not canonical (spaces)
        canonical([1]),
        canonical({"tx": {}, "sig": "x"}),
        canonical({"tx": {"v": 1}, "sig": "x", "endorsements": [], "extra": 1}),
        _leaf("tx"),
        _leaf({"type": "x"}),
        _leaf(_tx(extra=1)),
        _leaf({k: v for k, v in _tx().items() if k != "nonce"}),
        _leaf(_tx(ts=-1)),
        _leaf(_tx(ts=True)),
        _leaf(_tx(org="Hospital A")),
        _leaf(_tx(kid="short")),
        _leaf(_tx(nonce="AAAAAAAAAAAAAAAAAAAAAB")),  # 22 chars with non-zero trailing bits
        _leaf(_tx(body=[])),
        _leaf(_tx(type=3)),
        _leaf(_tx(), sig=5),
        _leaf(_tx(), endorsements=[{"org": "a", "kid": "b"}]),
        _leaf(_tx(), endorsements=[{"org": "a", "kid": "b", "sig": 1}]),
        canonical({"tx": _tx(), "sig": "x", "endorsements": {}}),
        _leaf(_tx(), endorsements=[{"org": "a", "kid": "b", "sig": "c"}] * 65),
    ],
)
def test_malformed(raw: bytes) -> None:
    assert _code(raw) == ValidationCode.MALFORMED


def test_float_is_malformed() -> None:
    assert _code(b'{"endorsements":[],"sig":"x","tx":{"v":1.0}}') == ValidationCode.MALFORMED


@pytest.mark.parametrize("version", [2, 0, "1", True])
def test_bad_version(version: Any) -> None:
    assert _code(_leaf(_tx(v=version))) == ValidationCode.BAD_VERSION


def test_too_large_and_its_tx_id() -> None:
    raw = _leaf(_tx(body={"pad": "x" * MAX_LEAF_BYTES}))
    assert _code(raw) == ValidationCode.TOO_LARGE
    assert leaf_tx_id(raw) == hashlib.sha256(raw).hexdigest()


def test_unparseable_leaf_tx_id_is_hash_of_raw() -> None:
    assert leaf_tx_id(b"\xff garbage") == hashlib.sha256(b"\xff garbage").hexdigest()
    spaced = b'{"tx": {"v": 1}}'
    assert leaf_tx_id(spaced) == hashlib.sha256(spaced).hexdigest()


def test_cut_markers() -> None:
    raw = encode_cut(ORG, 41)
    assert raw == b'{"cut":{"after":41,"org":"hospital-a"}}'
    assert is_cut_marker(raw)
    marker = decode_cut(raw)
    assert marker is not None
    assert (marker.org, marker.after) == (ORG, 41)
    assert not is_cut_marker(sign_entry(_tx(), generate_signing_key()))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"cut": {"after": 1, "org": "a"}}',
        b'{"cut":{"after":-1,"org":"a"}}',
        b'{"cut":{"after":1,"org":"a","x":1}}',
        b'{"cut":{"after":"1","org":"a"}}',
        b'{"cut":{"after":1,"org":"A B"}}',
        b'{"cut":1}',
        b'{"cut":{"after":1,"org":"a"},"x":1}',
        b'{"cut":',
    ],
)
def test_not_cut_markers(raw: bytes) -> None:
    assert not is_cut_marker(raw)


@pytest.mark.parametrize("depth", [50, 990, 5000])
def test_deep_nesting_is_malformed_or_bad_body_never_a_crash(depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    raw = b'{"endorsements":[],"sig":"x","tx":{"body":' + body + b"}}"
    with pytest.raises(EntryError):
        decode_entry(raw)
    assert len(leaf_tx_id(raw)) == 64
