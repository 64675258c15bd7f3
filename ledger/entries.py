"""Ledger entries on the wire: transactions, signed leaves, tx ids, and the stream's cut markers.

A leaf is ``canonical({"tx": tx, "sig": sig, "endorsements": [{"org", "kid", "sig"}, ...]})``
where every signature is ES256 over ``canonical(tx)``. The tx id hashes the transaction only, so a
re-signed or re-endorsed copy of the same transaction is recognised as a duplicate.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec

from ledger.canonical import MAX_SAFE_INTEGER, canonical, canonical_parsed, parse, parse_canonical
from ledger.errors import EncodingError, EntryError
from ledger.ids import Kid, OrgId, TxId
from ledger.signing import ES256, b64url, kid_of, sign

MAX_LEAF_BYTES = 64 * 1024
MAX_ENDORSEMENTS = 64
"""Bounds the signature checks one leaf can demand (each costs ~0.1 ms of CPU)."""
TX_VERSION = 1
TX_FIELDS = frozenset({"v", "type", "org", "kid", "alg", "ts", "nonce", "body"})
ORG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62})")
KID_RE = re.compile(r"[A-Za-z0-9_-]{43}")
NONCE_RE = re.compile(r"[A-Za-z0-9_-]{21}[AQgw]")
"""base64url of exactly 16 bytes: 22 characters, the last one carrying 2 bits and 4 zero bits."""
_CUT_PREFIX = b'{"cut":'


class EntryType(StrEnum):
    GENESIS = "consortium.genesis"
    MEMBER_ADD = "member.add"
    MEMBER_UPDATE = "member.update"
    MEMBER_REMOVE = "member.remove"
    POLICY_SET = "policy.set"
    CONSENT_GRANT = "consent.grant"
    CONSENT_REVOKE = "consent.revoke"
    GRANT_ISSUE = "grant.issue"
    GRANT_REVOKE = "grant.revoke"
    ACCESS_RECORD = "access.record"
    ERASURE_RECORD = "erasure.record"


class Endorsement(msgspec.Struct, frozen=True, gc=False):
    org: OrgId
    kid: Kid
    sig: str


class SignedEntry(msgspec.Struct, frozen=True):
    """A decoded leaf. ``message`` is ``canonical(tx)``: the bytes every signature covers."""

    tx: Mapping[str, Any]
    sig: str
    endorsements: tuple[Endorsement, ...]
    tx_id: TxId
    message: bytes

    @property
    def type(self) -> str:
        return str(self.tx["type"])

    @property
    def org(self) -> OrgId:
        return OrgId(self.tx["org"])

    @property
    def kid(self) -> Kid:
        return Kid(self.tx["kid"])

    @property
    def alg(self) -> str:
        return str(self.tx["alg"])

    @property
    def ts(self) -> int:
        return int(self.tx["ts"])

    @property
    def nonce(self) -> str:
        return str(self.tx["nonce"])

    @property
    def body(self) -> Mapping[str, Any]:
        body: Mapping[str, Any] = self.tx["body"]
        return body


def nonce_from_bytes(random16: bytes) -> str:
    """The tx nonce from 16 random bytes (the caller draws them: randomness is an input)."""
    if len(random16) != 16:
        raise ValueError("a nonce is exactly 16 random bytes")
    return b64url(random16)


def make_tx(
    type: str, org: OrgId, kid: Kid, ts: int, nonce: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """A version-1 transaction. ``ts``: epoch milliseconds; ``nonce``: from ``nonce_from_bytes``."""
    return {
        "v": TX_VERSION,
        "type": str(type),
        "org": org,
        "kid": kid,
        "alg": ES256,
        "ts": ts,
        "nonce": nonce,
        "body": dict(body),
    }


def tx_id_of(tx: Mapping[str, Any]) -> TxId:
    return TxId(hashlib.sha256(canonical(tx)).hexdigest())


def endorse(
    tx: Mapping[str, Any], org: OrgId, private_key: ec.EllipticCurvePrivateKey
) -> Endorsement:
    """Another member's endorsement of ``tx`` (what it sends back to the submitter)."""
    return _endorsement(org, private_key, canonical(tx))


def _endorsement(
    org: OrgId, private_key: ec.EllipticCurvePrivateKey, message: bytes
) -> Endorsement:
    return Endorsement(org, kid_of(private_key.public_key()), sign(private_key, message))


def encode_entry(
    tx: Mapping[str, Any], sig: str, endorsements: tuple[Endorsement, ...] | list[Endorsement] = ()
) -> bytes:
    """The leaf bytes: canonical ``{tx, sig, endorsements}``."""
    return _leaf(canonical(tx), sig, endorsements)


def sign_entry(
    tx: Mapping[str, Any],
    private_key: ec.EllipticCurvePrivateKey,
    endorsers: Mapping[OrgId, ec.EllipticCurvePrivateKey] | None = None,
) -> bytes:
    """Sign ``tx`` as its submitter and add one endorsement per ``endorsers`` entry (org -> key)."""
    return signed_entry(tx, private_key, endorsers)[1]


def signed_entry(
    tx: Mapping[str, Any],
    private_key: ec.EllipticCurvePrivateKey,
    endorsers: Mapping[OrgId, ec.EllipticCurvePrivateKey] | None = None,
) -> tuple[TxId, bytes]:
    """``(tx_id_of(tx), sign_entry(tx, ...))`` with ``tx`` encoded once: the tx id, every
    signature and the leaf all rest on the same canonical bytes (the gateway's hot path)."""
    message = canonical(tx)
    ends = [_endorsement(org, key, message) for org, key in (endorsers or {}).items()]
    leaf = _leaf(message, sign(private_key, message), ends)
    return TxId(hashlib.sha256(message).hexdigest()), leaf


def _leaf(
    message: bytes, sig: str, endorsements: tuple[Endorsement, ...] | list[Endorsement]
) -> bytes:
    """Canonical ``{tx, sig, endorsements}`` around ``message`` = canonical(tx). Canonical
    encoding is compositional and the keys sort as endorsements < sig < tx (what ``_message``
    cuts back out of a leaf)."""
    ends = [{"org": e.org, "kid": e.kid, "sig": e.sig} for e in endorsements]
    return b'{"endorsements":%s,"sig":%s,"tx":%s}' % (canonical(ends), canonical(sig), message)


def leaf_tx_id(raw: bytes) -> TxId:
    """The tx id the log records for any leaf: of its transaction when the leaf is canonical JSON
    with a ``tx`` object within the size limit, otherwise SHA-256 of the raw bytes."""
    if len(raw) <= MAX_LEAF_BYTES:
        # parse_canonical, not parse then canonical: its depth bound is the same on every node,
        # where a RecursionError in a deep re-encode would depend on the caller's stack.
        try:
            value = parse_canonical(raw)
        except (EncodingError, RecursionError):
            value = None
        if isinstance(value, dict) and isinstance(value.get("tx"), dict):
            return tx_id_of(value["tx"])
    return TxId(hashlib.sha256(raw).hexdigest())


def _rejected(code: str, problem: str) -> EntryError:
    # Imported here, not at the top: ledger.validation imports this module, and only refusals
    # need the codes.
    from ledger.validation.codes import ValidationCode

    return EntryError(ValidationCode[code], problem)


def _malformed(problem: str) -> EntryError:
    return _rejected("MALFORMED", problem)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_entry(raw: bytes) -> SignedEntry:
    """Decode and shape-check a leaf. Raises EntryError: TOO_LARGE, MALFORMED or BAD_VERSION.

    Algorithm and type are not judged here (see ledger.validation.prepare).
    """
    if len(raw) > MAX_LEAF_BYTES:
        raise _rejected("TOO_LARGE", f"{len(raw)} bytes > {MAX_LEAF_BYTES}")
    try:
        # One spelling per entry: a leaf is its canonical form, so the Merkle leaf pins the tx.
        value = parse_canonical(raw)
    # RecursionError: a leaf nested just shallow enough to parse may be too deep to re-encode.
    except (EncodingError, RecursionError) as exc:
        raise _malformed(str(exc)) from exc
    if not isinstance(value, dict) or set(value) != {"tx", "sig", "endorsements"}:
        raise _malformed("leaf is not {tx, sig, endorsements}")
    tx = value["tx"]
    if not isinstance(tx, dict) or "v" not in tx:
        raise _malformed("tx is not a versioned object")
    if tx["v"] != TX_VERSION or not _is_int(tx["v"]):
        raise _rejected("BAD_VERSION", f"unknown tx version {tx['v']!r}")
    _check_tx(tx)
    sig = value["sig"]
    if not isinstance(sig, str):
        raise _malformed("sig is not a string")
    endorsements = _endorsements(value["endorsements"])
    message = _message(raw, value)
    tx_id = TxId(hashlib.sha256(message).hexdigest())
    return SignedEntry(tx, sig, endorsements, tx_id, message)


def _message(raw: bytes, value: Mapping[str, Any]) -> bytes:
    """``canonical(tx)`` of a leaf known to be canonical, cut out of its bytes rather than encoded
    again. Canonical encoding is compositional and ``tx`` is the last key, so the leaf is
    ``{"endorsements":E,"sig":S,"tx":T}`` with T the transaction's canonical bytes."""
    head = b'{"endorsements":%s,"sig":%s,"tx":' % (
        canonical_parsed(value["endorsements"]),
        canonical_parsed(value["sig"]),
    )
    if raw.startswith(head) and raw.endswith(b"}"):
        return raw[len(head) : -1]
    return canonical_parsed(value["tx"])  # unreachable for a canonical leaf; kept obviously right


def _check_tx(tx: Mapping[str, Any]) -> None:
    if set(tx) != TX_FIELDS:
        raise _malformed("tx fields are not exactly v, type, org, kid, alg, ts, nonce, body")
    for field in ("type", "org", "kid", "alg", "nonce"):
        if not isinstance(tx[field], str):
            raise _malformed(f"tx.{field} is not a string")
    if not _is_int(tx["ts"]) or not 0 <= tx["ts"] <= MAX_SAFE_INTEGER:
        raise _malformed("tx.ts is not epoch milliseconds")
    if not isinstance(tx["body"], dict):
        raise _malformed("tx.body is not an object")
    if not ORG_RE.fullmatch(tx["org"]):
        raise _malformed("tx.org is not an org id")
    if not KID_RE.fullmatch(tx["kid"]):
        raise _malformed("tx.kid is not a key thumbprint")
    if not NONCE_RE.fullmatch(tx["nonce"]):
        raise _malformed("tx.nonce is not base64url of 16 bytes")


def _endorsements(value: object) -> tuple[Endorsement, ...]:
    if not isinstance(value, list) or len(value) > MAX_ENDORSEMENTS:
        raise _malformed(f"endorsements is not a list of at most {MAX_ENDORSEMENTS}")
    out: list[Endorsement] = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"org", "kid", "sig"}:
            raise _malformed("endorsement is not {org, kid, sig}")
        if not all(isinstance(item[k], str) for k in ("org", "kid", "sig")):
            raise _malformed("endorsement fields are not strings")
        out.append(Endorsement(OrgId(item["org"]), Kid(item["kid"]), item["sig"]))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class CutMarker:
    """Not a log entry: tells every node to close the pending block (a no-op with none pending).
    ``after`` is the position that closed the block before it, as the publishing node saw it; a
    node keys its marker by it (``cut:{after}``), so gateways asking to close the same block
    publish one marker. Nodes cut whatever is pending when they read it, never by ``after``."""

    org: OrgId
    after: int


def encode_cut(org: OrgId, after: int) -> bytes:
    return canonical({"cut": {"org": org, "after": after}})


def decode_cut(raw: bytes) -> CutMarker | None:
    """The marker when ``raw`` is exactly a canonical cut marker, else None (a log entry then)."""
    if not raw.startswith(_CUT_PREFIX) or len(raw) > 256:
        return None
    try:
        value = parse(raw)
    except EncodingError:
        return None
    if not isinstance(value, dict) or set(value) != {"cut"}:
        return None
    cut = value["cut"]
    if not isinstance(cut, dict) or set(cut) != {"org", "after"}:
        return None
    org, after = cut["org"], cut["after"]
    if not isinstance(org, str) or not ORG_RE.fullmatch(org) or not _is_int(after) or after < 0:
        return None
    marker = CutMarker(OrgId(org), after)
    return marker if encode_cut(marker.org, marker.after) == raw else None


def is_cut_marker(raw: bytes) -> bool:
    """Cheap: a prefix test, then only candidates are parsed (entries start ``{"endorsements"``)."""
    return decode_cut(raw) is not None
