"""JWE JSON Serialization (RFC 7516 section 7.2) with A256GCM content, lean for large payloads.

Built directly on `cryptography` and SIMD base64 instead of joserfc: the framing (base64, JSON), not
the cipher, is an envelope's cost: joserfc spends tens of times AES-GCM's time on it. The output is
standard General Serialization; tests prove joserfc opens it and that this module opens joserfc's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.crypto import b64, keys, recipients
from gateway.crypto.errors import TamperedEnvelope, UnsupportedAlgorithm

A256GCM = "A256GCM"
_CEK_LEN = {"A128GCM": 16, "A256GCM": 32}
Buffer = bytes | memoryview
IV_LEN = 12
TAG_LEN = 16
_MEMBERS = frozenset(
    {"protected", "unprotected", "header", "recipients", "encrypted_key", "aad", "iv"}
    | {"ciphertext", "tag"}
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One recipient: its joint header (protected + per-recipient members) and encrypted key."""

    header: Mapping[str, Any]
    encrypted_key: bytes


@dataclass(frozen=True, slots=True)
class ParsedJwe:
    """A decoded, not yet decrypted JWE. `aad` is the AEAD's additional data (RFC 7516 step 14)."""

    protected: Mapping[str, Any]
    aad: bytes
    iv: bytes
    ciphertext: bytes
    tag: bytes
    entries: tuple[Entry, ...]


def encrypt(plaintext: bytes, protected: Mapping[str, Any], to: Sequence[keys.Jwk]) -> bytes:
    """General JSON Serialization, A256GCM, of `plaintext` for every public JWK in `to`.
    Requires: one recipient or more; no per-recipient member (alg, kid, epk, ek) in `protected`.
    (Envelopes are sealed by `sealing`, which streams; this is the plain reference path.)"""
    cek = AESGCM.generate_key(256)
    iv = os.urandom(IV_LEN)
    prot = encode_protected(protected)
    sealed = memoryview(AESGCM(cek).encrypt(iv, plaintext, prot))
    ciphertext = b64.encode(sealed[:-TAG_LEN])
    return frame(prot, wrap_all(cek, to), iv, [ciphertext], sealed[-TAG_LEN:])


def encode_protected(protected: Mapping[str, Any]) -> bytes:
    """base64url of the JWE protected header with "enc": "A256GCM" set."""
    return bytes(b64.encode(_dumps({**protected, "enc": A256GCM})))


def wrap_all(cek: bytes, to: Sequence[keys.Jwk]) -> bytes:
    """The JSON "recipients" array: `cek` wrapped for each public JWK."""
    entries = []
    for jwk in to:
        header, encrypted_key = recipients.wrap(cek, jwk, A256GCM)
        entries.append({"header": header, "encrypted_key": b64.encode_str(encrypted_key)})
    return _dumps(entries)


def frame(
    prot: bytes, entries: bytes, iv: bytes, ciphertext_b64: Sequence[Buffer], tag: Buffer
) -> bytes:
    """The General JSON Serialization of encrypted parts: `prot` as encode_protected, `entries`
    as wrap_all, the ciphertext already base64url-encoded in pieces that concatenate."""
    # Base64url never needs JSON escaping, so the large members are spliced in without a copy.
    return b"".join(
        (
            b'{"protected":"', prot, b'","recipients":', entries,
            b',"iv":"', b64.encode(iv), b'","ciphertext":"', *ciphertext_b64,
            b'","tag":"', b64.encode(tag), b'"}',
        )
    )  # fmt: skip


def parse(data: bytes, max_recipients: int = 64) -> ParsedJwe:
    """Decode a General or Flattened JSON Serialization. Raises TamperedEnvelope if malformed: not
    JSON, duplicate or unknown members, bad base64url, header names repeated across header parts."""
    try:
        outer = _loads(data)
        if not isinstance(outer, dict) or not _MEMBERS.issuperset(outer):
            raise ValueError("not a JWE JSON object")
        if "unprotected" in outer:
            # Every shared member must be integrity-protected: "enc" in an unprotected header could
            # be changed in transit.
            raise ValueError("unprotected shared header")
        prot_b64 = outer["protected"].encode("ascii")
        protected = _loads(b64.decode(prot_b64))
        if not isinstance(protected, dict):
            raise ValueError("protected header is not an object")
        aad = prot_b64 if "aad" not in outer else prot_b64 + b"." + outer["aad"].encode("ascii")
        iv, tag = b64.decode(outer["iv"]), b64.decode(outer["tag"])
        ciphertext = b64.decode(outer["ciphertext"])
        raw_entries = outer.get("recipients") or _flattened(outer)
        if not isinstance(raw_entries, list) or not 0 < len(raw_entries) <= max_recipients:
            raise ValueError("recipients")
        entries = tuple(_entry(protected, raw) for raw in raw_entries)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TamperedEnvelope(f"JWE framing: {exc}") from exc
    return ParsedJwe(protected, aad, iv, ciphertext, tag, entries)


def decrypt(parsed: ParsedJwe, cek: bytes, encs: Collection[str] = (A256GCM,)) -> bytes:
    """The plaintext of `parsed` under `cek`. Raises UnsupportedAlgorithm unless its "enc" is in
    `encs` (AES-GCM only), TamperedEnvelope if ciphertext, tag, IV or protected header changed."""
    enc = parsed.protected.get("enc")
    if enc not in encs or enc not in _CEK_LEN:
        raise UnsupportedAlgorithm("enc", enc)
    if len(cek) != _CEK_LEN[enc] or len(parsed.iv) != IV_LEN or len(parsed.tag) != TAG_LEN:
        raise TamperedEnvelope("key, IV or tag length")
    try:
        return AESGCM(cek).decrypt(parsed.iv, parsed.ciphertext + parsed.tag, parsed.aad)
    except InvalidTag as exc:
        raise TamperedEnvelope("content (ciphertext, tag, IV or protected header)") from exc


def _entry(protected: Mapping[str, Any], raw: Any) -> Entry:
    header = raw.get("header", {})
    if not isinstance(header, dict) or set(raw) - {"header", "encrypted_key"}:
        raise ValueError("recipient entry")
    if set(header) & set(protected):
        raise ValueError("header member both protected and per-recipient")
    return Entry({**protected, **header}, b64.decode(raw.get("encrypted_key", "")))


def _flattened(outer: Mapping[str, Any]) -> list[dict[str, Any]]:
    # Flattened Serialization (RFC 7516 section 7.2.2): the one recipient's members sit at the top.
    if "recipients" in outer:
        raise ValueError("empty recipients")
    return [{name: outer[name] for name in ("header", "encrypted_key") if name in outer}]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _loads(data: bytes) -> Any:
    # Duplicate members are refused: two parsers that pick different duplicates would disagree on
    # what the envelope says. Fast path: a document that orjson re-serialises to its exact bytes
    # has no duplicate (one would be missing from the output) and no escape or spacing that a
    # strict parse could read otherwise; envelopes from this module always are such documents.
    try:
        fast = orjson.loads(data)
    except orjson.JSONDecodeError:
        fast = None
    if fast is not None and orjson.dumps(fast) == data:
        return fast

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            raise ValueError("duplicate JSON member")
        return out

    return json.loads(data, object_pairs_hook=no_duplicates)
