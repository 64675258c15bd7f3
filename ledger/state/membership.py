"""Members and their keys in state: typed readers, the writer, and the key resolver of a block.

A member's row holds its whole record (roles, endpoint, keys with status); the ``keys`` namespace
repeats each signing key by kid so that a signature can be checked knowing only the kid. Both are
written together by ``store_member`` so they never disagree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ledger.errors import KeyFormatError
from ledger.ids import Kid, OrgId
from ledger.signing import ES256, VerifyingKey, load_public_key_b64, load_verifying_key
from ledger.state import namespaces as ns
from ledger.statekv import StateChange, StateReader

ACTIVE = "active"
RETIRED = "retired"
REMOVED = "removed"

KeyResolver = Callable[[Kid], VerifyingKey | ec.EllipticCurvePublicKey | None]
"""kid -> loaded public key (a bare P-256 key means ES256), or None when the kid is unknown: phase 2
then checks the signature inline."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: Kid
    org: OrgId
    pub: str
    """base64url DER SubjectPublicKeyInfo."""
    alg: str
    status: str
    """``active`` or ``retired``."""
    retired_ts: int | None = None
    """ts (ms) of the entry that retired the key; None while active (or retired before it was kept)."""
    retired_index: int | None = None
    """Log position of the entry that retired the key (its block's ts starts the overlap)."""
    compromised: bool = False
    """Retired as compromised (``member.update`` with ``compromised``): no overlap at all."""

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE


@dataclass(frozen=True, slots=True)
class EncryptionKey:
    kid: str
    alg: str
    jwk: Mapping[str, Any]
    """A public JWK (validation refuses private members)."""


@dataclass(frozen=True, slots=True)
class Member:
    org: OrgId
    role: str
    name: str
    endpoint: str
    status: str
    """``active`` or ``removed``."""
    signing_keys: tuple[SigningKey, ...]
    encryption_keys: tuple[EncryptionKey, ...]
    ca_chain: tuple[str, ...]

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    def active_kids(self) -> tuple[Kid, ...]:
        return tuple(k.kid for k in self.signing_keys if k.is_active)


def _member_of(record: Mapping[str, Any]) -> Member:
    org = OrgId(record["org"])
    return Member(
        org=org,
        role=record["role"],
        name=record["name"],
        endpoint=record["endpoint"],
        status=record["status"],
        signing_keys=tuple(
            SigningKey(
                Kid(k["kid"]),
                org,
                k["pub"],
                k["alg"],
                k["status"],
                k.get("retired_ts"),
                k.get("retired_index"),
                k.get("compromised") is True,
            )
            for k in record["signing_keys"]
        ),
        encryption_keys=tuple(
            EncryptionKey(k["kid"], k["alg"], k["jwk"]) for k in record["encryption_keys"]
        ),
        ca_chain=tuple(record["ca_chain"]),
    )


def member_record(reader: StateReader, org: str) -> dict[str, Any] | None:
    """The stored record as a dict (what rules modify and hand back to ``store_member``)."""
    record: dict[str, Any] | None = ns.read(reader, ns.MEMBERS, org)
    return record


def member(reader: StateReader, org: str) -> Member | None:
    raw = reader.get(ns.MEMBERS, org)
    return None if raw is None else _member_of_row(raw)


@functools.lru_cache(maxsize=256)
def _member_of_row(raw: bytes) -> Member:
    # Every entry's validation reads its sender's record: parse each distinct row once. Keyed by
    # the row's bytes, so a changed record is a new key and a cached Member is never stale.
    return _member_of(ns.decode(raw))


def members(reader: StateReader) -> list[Member]:
    """Every member ever added, active or removed, by org id."""
    return [_member_of(ns.decode(raw)) for _, raw in reader.scan(ns.MEMBERS)]


def active_members(reader: StateReader) -> list[Member]:
    return [m for m in members(reader) if m.is_active]


def signing_key(reader: StateReader, kid: str) -> SigningKey | None:
    """The key named ``kid``, whoever owns it and whatever its status."""
    raw = reader.get(ns.KEYS, kid)
    return None if raw is None else _signing_key_of_row(kid, raw)


@functools.lru_cache(maxsize=1024)
def _signing_key_of_row(kid: str, raw: bytes) -> SigningKey:
    row = ns.decode(raw)
    return SigningKey(
        Kid(kid),
        OrgId(row["org"]),
        row["pub"],
        row["alg"],
        row["status"],
        row.get("retired_ts"),
        row.get("retired_index"),
        row.get("compromised") is True,
    )


def signing_key_for_kid(reader: StateReader, kid: str) -> ec.EllipticCurvePublicKey | None:
    """The loaded P-256 key named ``kid`` whatever its status (a resolver's lookup), or None when
    unknown or not an ES256 key."""
    key = signing_key(reader, kid)
    if key is None or key.alg != ES256:
        return None
    try:
        return load_public_key_b64(key.pub)
    except KeyFormatError:
        return None


def signing_key_of(reader: StateReader, org: str, kid: str) -> SigningKey | None:
    """The key named ``kid`` if it belongs to ``org`` and ``org`` is an active member, whatever the
    key's status (a caller that accepts a retired key for an overlap checks ``retired_ts``)."""
    key = signing_key(reader, kid)
    if key is None or key.org != org:
        return None
    owner = member(reader, org)
    return key if owner is not None and owner.is_active else None


def active_signing_key(reader: StateReader, org: str, kid: str) -> SigningKey | None:
    """The key if it belongs to ``org``, is active, and ``org`` is an active member; else None."""
    key = signing_key(reader, kid)
    if key is None or key.org != org or not key.is_active:
        return None
    owner = member(reader, org)
    return key if owner is not None and owner.is_active else None


def store_member(record: Mapping[str, Any]) -> list[StateChange]:
    """Rows for a (new or changed) member record: its ``members`` row and one ``keys`` row per
    signing key. Requires: each signing key carries ``status``."""
    changes = [ns.put(ns.MEMBERS, record["org"], record)]
    for key in record["signing_keys"]:
        value = {
            "org": record["org"],
            "pub": key["pub"],
            "alg": key["alg"],
            "status": key["status"],
        }
        for retired in ("retired_ts", "retired_index", "compromised"):
            if retired in key:
                value[retired] = key[retired]
        changes.append(ns.put(ns.KEYS, key["kid"], value))
    return changes


def key_resolver(reader: StateReader) -> KeyResolver:
    """``kid -> loaded key`` from ``reader``'s ``keys`` rows, each loaded on first use and kept.

    Keys are never deleted from state (a retired key is only marked), so a loaded key stays right as
    state grows; whether it may still sign is decided in phase 2, which knows the entry's position.
    Shared by the prepare threads: a racing double load of one key is harmless. A kid the reader
    does not know yet (added earlier in the same block) resolves to None and phase 2 checks inline.
    """
    cache: dict[Kid, VerifyingKey] = {}

    def resolve(kid: Kid) -> VerifyingKey | None:
        found = cache.get(kid)
        if found is None:
            row = ns.read(reader, ns.KEYS, kid)
            if row is None:
                return None
            try:
                found = load_verifying_key(row["alg"], row["pub"])
            except KeyFormatError:
                return None  # validation admits only loadable keys: an unloadable one stays unknown
            cache[kid] = found
        return found

    return resolve
