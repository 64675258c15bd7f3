"""The cosigned checkpoint given to patients and auditors, and its stand-alone verification.

Wire form (canonical JSON): ``{"cp": {...}, "signatures": [{org, kid, sig}, ...]}``, signatures
sorted by org. Anyone holding the member list and the quorum rule can check it without a ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.canonical import canonical, parse
from ledger.checkpoint.electorate import Electorate
from ledger.checkpoint.signed import (
    MAX_CHECKPOINT_BYTES,
    Checkpoint,
    Cosignature,
    Rejection,
    checkpoint_of,
    cosignature_of,
)
from ledger.errors import CheckpointError, EncodingError
from ledger.ids import ConsortiumId

MAX_COSIGNED_BYTES = 64 * MAX_CHECKPOINT_BYTES
"""Room for a few hundred signatures: far more members than a consortium has."""


@dataclass(frozen=True, slots=True)
class CosignedCheckpoint:
    """A checkpoint with the signatures that made it final, one per distinct member, by org."""

    cp: Checkpoint
    signatures: tuple[Cosignature, ...]

    @property
    def height(self) -> int:
        return self.cp.height

    def to_json(self) -> dict[str, Any]:
        return {"cp": self.cp.to_json(), "signatures": [s.to_json() for s in self.signatures]}

    def encode(self) -> bytes:
        return canonical(self.to_json())


def decode_cosigned(raw: bytes) -> CosignedCheckpoint:
    """Parse a cosigned checkpoint (signatures unchecked). Raises CheckpointError (MALFORMED)."""
    if len(raw) > MAX_COSIGNED_BYTES:
        raise CheckpointError(Rejection.MALFORMED, "cosigned checkpoint too large")
    try:
        value = parse(raw)
    except EncodingError as exc:
        raise CheckpointError(Rejection.MALFORMED, exc.problem) from exc
    if not isinstance(value, dict) or set(value) != {"cp", "signatures"}:
        raise CheckpointError(Rejection.MALFORMED, "fields must be exactly cp and signatures")
    sigs = value["signatures"]
    if not isinstance(sigs, list) or not all(isinstance(s, dict) and len(s) == 3 for s in sigs):
        raise CheckpointError(Rejection.MALFORMED, "signatures must be {org, kid, sig} objects")
    return CosignedCheckpoint(checkpoint_of(value["cp"]), tuple(cosignature_of(s) for s in sigs))


def verify_cosigned(
    cosigned: CosignedCheckpoint, electorate: Electorate, consortium: ConsortiumId
) -> Checkpoint:
    """Check that it is ``consortium``'s, that every signature is valid under an active key of an active member, that no member
    signs twice, and that the distinct signers reach the quorum. Returns the checkpoint.

    Strict on purpose: a cosigned checkpoint is a proof handed to a third party, so a signature that
    cannot be checked makes the whole value unacceptable rather than being skipped.
    Raises CheckpointError (WRONG_CONSORTIUM, UNKNOWN_KEY, BAD_SIGNATURE, MALFORMED for a repeated
    org, NO_QUORUM).
    """
    if cosigned.cp.consortium != consortium:
        raise CheckpointError(Rejection.WRONG_CONSORTIUM, f"for {cosigned.cp.consortium}")
    message = cosigned.cp.signed_bytes()
    signers: set[str] = set()
    for signature in cosigned.signatures:
        if signature.org in signers:
            raise CheckpointError(Rejection.MALFORMED, f"{signature.org} signs twice")
        key = electorate.key(signature.org, signature.kid)
        if key is None:
            problem = f"{signature.kid} is not an active key of an active member {signature.org}"
            raise CheckpointError(Rejection.UNKNOWN_KEY, problem)
        if not key.verify(message, signature.sig):
            raise CheckpointError(Rejection.BAD_SIGNATURE, f"by {signature.org}")
        signers.add(signature.org)
    required = electorate.required()
    if required is None or len(signers) < required:
        wanted = "unreachable" if required is None else str(required)
        problem = f"{len(signers)} distinct signers, quorum needs {wanted}"
        raise CheckpointError(Rejection.NO_QUORUM, problem)
    return cosigned.cp
