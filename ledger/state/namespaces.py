"""The state namespaces, their key layouts, and reading and writing canonical JSON rows.

One place knows how state is laid out (ARCHITECTURE.md section 3, State); the typed readers beside
it and the validation rules go through these helpers. Index rows repeat an id in their key so that a
prefix scan answers "all consents of this patient" in key order.
"""

from __future__ import annotations

from typing import Any

from ledger.canonical import canonical, canonical_parsed, trusted
from ledger.statekv import StateChange, StateReader

CONSORTIUM = "consortium"
"""``"current"`` -> {id, name, genesis_ts}."""
MEMBERS = "members"
"""org -> member record with ``status`` and each signing key's ``status``."""
KEYS = "keys"
"""kid -> {org, pub, alg, status, retired_ts?, retired_index?, compromised?}. Never deleted:
retired keys are only marked, with the ts and log position of the entry that retired them."""
QUORUM = "quorum"
"""``"current"`` -> {rule, k?}."""
POLICY = "policy"
"""``"current"`` -> {version, digest, index}."""
CONSENTS = "consents"
CONSENTS_BY_PATIENT = "consents_by_patient"
"""f"{patient_ref}/{consent_id}" -> {id}."""
GRANTS = "grants"
GRANTS_BY_GRANTEE = "grants_by_grantee"
"""f"{grantee}/{grant_id}" -> {id}."""
ACCESS = "access"
"""f"{index:012d}" -> access record summary with its tx_id, index and ts. Keyed by log position, not
tx id: a new record's row lands at the end of the table's key order instead of at a random place
(fewer pages written per block), and the index rows below name that position in their own keys."""
ACCESS_BY_PATIENT = "access_by_patient"
"""f"{patient_ref}/{index:012d}" -> {tx_id}."""
ACCESS_BY_REQUESTER = "access_by_requester"
"""f"{requester}/{index:012d}" -> {tx_id}."""
ERASURES = "erasures"
"""f"{custodian}/{record_digest}" -> {patient_ref, reason, index, ts, tx_id}."""
NONCES = "nonces"
"""f"{org}/{nonce}" -> {index, tx_id} of the valid entry that first used it (and so of the only
valid entry with that tx id: the same transaction has the same org and nonce)."""

CURRENT = "current"
"""The key of single-row namespaces (consortium, quorum, policy)."""

ALL = (
    CONSORTIUM,
    MEMBERS,
    KEYS,
    QUORUM,
    POLICY,
    CONSENTS,
    CONSENTS_BY_PATIENT,
    GRANTS,
    GRANTS_BY_GRANTEE,
    ACCESS,
    ACCESS_BY_PATIENT,
    ACCESS_BY_REQUESTER,
    ERASURES,
    NONCES,
)


def put(ns: str, key: str, value: Any) -> StateChange:
    return StateChange(ns, key, canonical(value))


def put_parsed(ns: str, key: str, value: Any) -> StateChange:
    """``put`` without the type walk, for the hot path. Requires: ``value`` holds only values of a
    parsed leaf (``parse`` refused what canonical JSON cannot hold) and str or safe int fields."""
    return StateChange(ns, key, canonical_parsed(value))


def nonce_row(key: str, index: int, tx_id: str) -> StateChange:
    """The ``NONCES`` row, written by every valid entry: encoded by hand, since it is the busiest
    row. Canonical by construction: keys in order, an int, and a tx id (lowercase hex, no escapes)."""
    return StateChange(NONCES, key, b'{"index":%d,"tx_id":"%s"}' % (index, tx_id.encode("ascii")))


def tx_ref(tx_id: str) -> bytes:
    """``canonical({"tx_id": tx_id})`` for a tx id (lowercase hex): the value of index rows."""
    return b'{"tx_id":"%s"}' % tx_id.encode("ascii")


def decode(raw: bytes) -> Any:
    return trusted(raw)


def read(reader: StateReader, ns: str, key: str) -> Any:
    """The parsed row, or None when absent."""
    raw = reader.get(ns, key)
    return None if raw is None else trusted(raw)


def scan(reader: StateReader, ns: str, prefix: str = "") -> list[tuple[str, Any]]:
    """Parsed rows of ``ns`` under ``prefix``, in key order."""
    return [(key, trusted(raw)) for key, raw in reader.scan(ns, prefix)]


def index_key(index: int) -> str:
    """A log position as a key: zero-padded, so keys sort by position."""
    return f"{index:012d}"


def by_index_key(prefix: str, index: int) -> str:
    """Index keys sort by log position because the index is zero-padded."""
    return f"{prefix}/{index_key(index)}"


def index_of_key(key: str) -> str:
    """The ``index_key`` part of a ``by_index_key``."""
    return key.rsplit("/", 1)[1]


def put_indexed(primary: str, key: str, row: Any, index: str, owner: str) -> list[StateChange]:
    """A row of ``primary`` and its entry ``owner/key -> {"id": key}`` in the secondary ``index``
    (consents by patient, grants by grantee): both written together so they never disagree."""
    return [put(primary, key, row), put(index, f"{owner}/{key}", {"id": key})]


def rows_by_index(reader: StateReader, index: str, owner: str, primary: str) -> list[Any]:
    """The ``primary`` rows that ``index`` lists under ``owner``, in index key order."""
    out: list[Any] = []
    for _, ref in scan(reader, index, f"{owner}/"):
        row = read(reader, primary, ref["id"])
        if row is not None:
            out.append(row)
    return out
