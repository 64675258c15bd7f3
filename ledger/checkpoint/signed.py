"""The checkpoint value, a member's signature over it, and strict decoding and verification.

Wire form (canonical JSON): ``{"cp": {consortium, height, block_hash, tree_size, tree_root},
"org", "kid", "sig"}`` with ``sig`` = ES256 (raw r||s, base64url) over ``canonical(cp)``. The
consortium id inside ``cp`` stops a signature being replayed into another consortium; the shape of
``cp`` shares no field with a ledger transaction, so neither signature can pass for the other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ledger.blocks import BlockHeader
from ledger.canonical import canonical, parse
from ledger.entries import KID_RE, ORG_RE
from ledger.errors import CheckpointError, EncodingError
from ledger.ids import ConsortiumId, Digest, Kid, OrgId
from ledger.signing import VerifyingKey, kid_of, sign

MAX_CHECKPOINT_BYTES = 2048
"""A checkpoint message is ~400 bytes; anything much larger is refused before parsing."""
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SIG = re.compile(r"[A-Za-z0-9_-]{86}")
"""64 raw bytes in unpadded base64url."""
_CP_FIELDS = frozenset({"consortium", "height", "block_hash", "tree_size", "tree_root"})
_MSG_FIELDS = frozenset({"cp", "org", "kid", "sig"})

KeyLookup = Callable[[OrgId, Kid], VerifyingKey | None]
"""(org, kid) -> the key when ``kid`` is an active key of ``org`` and ``org`` an active member."""


class Rejection(StrEnum):
    """Why a checkpoint was refused: the ``reason`` of CheckpointError, and a metric label."""

    MALFORMED = "malformed"
    WRONG_CONSORTIUM = "wrong_consortium"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    TOO_FAR_AHEAD = "too_far_ahead"
    STALE = "stale"
    NO_QUORUM = "no_quorum"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a member asserts about its chain after block ``height``."""

    consortium: ConsortiumId
    height: int
    block_hash: Digest
    tree_size: int
    tree_root: Digest

    @classmethod
    def of(cls, consortium: ConsortiumId, header: BlockHeader) -> Checkpoint:
        return cls(consortium, header.height, header.hash(), header.tree_size, header.tree_root)

    def to_json(self) -> dict[str, Any]:
        return {
            "consortium": self.consortium,
            "height": self.height,
            "block_hash": self.block_hash,
            "tree_size": self.tree_size,
            "tree_root": self.tree_root,
        }

    def signed_bytes(self) -> bytes:
        return canonical(self.to_json())


@dataclass(frozen=True, slots=True)
class Cosignature:
    org: OrgId
    kid: Kid
    sig: str

    def to_json(self) -> dict[str, str]:
        return {"org": self.org, "kid": self.kid, "sig": self.sig}


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint with one member's signature; ``encode()`` gives back its exact wire bytes."""

    cp: Checkpoint
    signature: Cosignature

    @property
    def org(self) -> OrgId:
        return self.signature.org

    def encode(self) -> bytes:
        return canonical({"cp": self.cp.to_json(), **self.signature.to_json()})

    def dedup_key(self) -> str:
        """One message per member and height on the checkpoint stream (a re-sign is a no-op)."""
        return f"cp:{self.org}:{self.cp.height}"


def sign_checkpoint(
    cp: Checkpoint, org: OrgId, private_key: ec.EllipticCurvePrivateKey
) -> SignedCheckpoint:
    """``org``'s signature over ``cp`` with ``private_key`` (its kid is derived from the key)."""
    sig = sign(private_key, cp.signed_bytes())
    return SignedCheckpoint(cp, Cosignature(org, kid_of(private_key.public_key()), sig))


def _refuse(problem: str) -> CheckpointError:
    return CheckpointError(Rejection.MALFORMED, problem)


def checkpoint_of(value: object) -> Checkpoint:
    """Parse the ``cp`` object strictly: exact fields, integers, lowercase hex digests."""
    if not isinstance(value, Mapping) or set(value) != _CP_FIELDS:
        raise _refuse(f"cp must have exactly the fields {sorted(_CP_FIELDS)}")
    for name in ("consortium", "block_hash", "tree_root"):
        if not isinstance(value[name], str) or not _HEX64.fullmatch(value[name]):
            raise _refuse(f"{name} must be 64 lowercase hex digits")
    height, size = value["height"], value["tree_size"]
    if type(height) is not int or height < 0:
        raise _refuse("height must be a non-negative integer")
    if type(size) is not int or size < 1:
        raise _refuse("tree_size must be a positive integer")
    return Checkpoint(
        ConsortiumId(value["consortium"]),
        height,
        Digest(value["block_hash"]),
        size,
        Digest(value["tree_root"]),
    )


def cosignature_of(value: Mapping[str, Any]) -> Cosignature:
    """The ``org, kid, sig`` fields of a message or of a cosigned checkpoint's signature list."""
    org, kid, sig = value.get("org"), value.get("kid"), value.get("sig")
    if not isinstance(org, str) or not ORG_RE.fullmatch(org):
        raise _refuse("org is not a member id")
    if not isinstance(kid, str) or not KID_RE.fullmatch(kid):
        raise _refuse("kid is not a key id")
    if not isinstance(sig, str) or not _SIG.fullmatch(sig):
        raise _refuse("sig is not a raw ES256 signature in base64url")
    return Cosignature(OrgId(org), Kid(kid), sig)


def decode_checkpoint(raw: bytes) -> SignedCheckpoint:
    """Parse a checkpoint message without checking its signature. Raises CheckpointError
    (MALFORMED) unless ``raw`` is the canonical encoding of a well-formed message."""
    if len(raw) > MAX_CHECKPOINT_BYTES:
        raise _refuse(f"message of {len(raw)} bytes exceeds {MAX_CHECKPOINT_BYTES}")
    try:
        value = parse(raw)
    except EncodingError as exc:
        raise _refuse(exc.problem) from exc
    if not isinstance(value, dict) or set(value) != _MSG_FIELDS:
        raise _refuse(f"message must have exactly the fields {sorted(_MSG_FIELDS)}")
    signed = SignedCheckpoint(checkpoint_of(value["cp"]), cosignature_of(value))
    # One spelling per message: evidence is compared and stored as bytes.
    if signed.encode() != raw:
        raise _refuse("message is not canonical JSON")
    return signed


def verify_signed(
    signed: SignedCheckpoint, keys: KeyLookup, consortium: ConsortiumId
) -> SignedCheckpoint:
    """Check the consortium and the signature under the signer's active key; returns ``signed``.
    Raises CheckpointError (WRONG_CONSORTIUM, UNKNOWN_KEY, BAD_SIGNATURE)."""
    if signed.cp.consortium != consortium:
        raise CheckpointError(Rejection.WRONG_CONSORTIUM, f"for {signed.cp.consortium}")
    key = keys(signed.org, signed.signature.kid)
    if key is None:
        problem = f"{signed.signature.kid} is not an active key of an active member {signed.org}"
        raise CheckpointError(Rejection.UNKNOWN_KEY, problem)
    if not key.verify(signed.cp.signed_bytes(), signed.signature.sig):
        raise CheckpointError(Rejection.BAD_SIGNATURE, f"by {signed.org} at {signed.cp.height}")
    return signed


def decode_and_verify(raw: bytes, keys: KeyLookup, consortium: ConsortiumId) -> SignedCheckpoint:
    """``decode_checkpoint`` then ``verify_signed``. Raises CheckpointError."""
    return verify_signed(decode_checkpoint(raw), keys, consortium)
