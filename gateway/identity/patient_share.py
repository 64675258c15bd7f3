"""The consortium's patient-pseudonym key, shared among the founders without ever being in clear in
a shared file.

The first founder (the genesis transaction's submitter) draws the key when it signs the genesis
package, and seals one envelope per founder (gateway.crypto.envelope: signed with its ledger
signing key, JWE-encrypted to that founder's encryption key from its card, addressed to it alone).
The payload binds the key to the consortium: ``{"consortium": tx id, "patient_key": base64url}``,
so a share cannot be replayed into another consortium. Every share also carries a key check
value, ``HMAC-SHA256(key, "medgate-patient-key-check|" + consortium)`` hex: it reveals nothing of
the key, and founders compare it out of band to know they all hold the same one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.crypto.envelope import Recipient, open_envelope, seal
from gateway.crypto.errors import EnvelopeError
from gateway.identity.card import MemberCard
from ledger.canonical import canonical
from ledger.signing import b64url, b64url_decode, kid_of, load_public_key_b64

PATIENT_KEY_BYTES = 32
SHARE_CTY = "application/medgate-patient-key+json"


class ShareError(ValueError):
    """A patient-key share that is not for us, not from the first founder, or not this consortium's."""


@dataclass(frozen=True, slots=True)
class PatientKeyShares:
    """Who drew the key (org and signing kid), its check value, and one envelope per founder."""

    sender: str
    kid: str
    check: str
    envelopes: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.sender,
            "kid": self.kid,
            "check": self.check,
            "envelopes": dict(self.envelopes),
        }


def shares_from_json(value: Any) -> PatientKeyShares:
    if not isinstance(value, dict) or set(value) != {"from", "kid", "check", "envelopes"}:
        raise ShareError("patient_key is not {from, kid, check, envelopes}")
    envelopes = value["envelopes"]
    if not isinstance(envelopes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in envelopes.items()
    ):
        raise ShareError("patient_key.envelopes is not an object of org -> envelope text")
    if not all(isinstance(value[k], str) for k in ("from", "kid", "check")):
        raise ShareError("patient_key.from, kid and check are strings")
    return PatientKeyShares(value["from"], value["kid"], value["check"], envelopes)


def key_check(patient_key: bytes, consortium: str) -> str:
    """The key check value founders compare out of band (hex; reveals nothing of the key)."""
    message = f"medgate-patient-key-check|{consortium}".encode()
    return hmac.new(patient_key, message, hashlib.sha256).hexdigest()


def encryption_jwk(card: MemberCard) -> Mapping[str, str]:
    """The founder's (first) public encryption key. Raises ShareError when its card has none."""
    keys = card.member.get("encryption_keys") or []
    if not keys:
        raise ShareError(f"{card.org}'s card has no encryption key: no share can reach it")
    jwk: Mapping[str, str] = keys[0]["jwk"]
    return jwk


def share_patient_key(
    patient_key: bytes,
    consortium: str,
    sender: str,
    signing_key: ec.EllipticCurvePrivateKey,
    founders: Sequence[MemberCard],
) -> PatientKeyShares:
    """One envelope per founder, each sealed to that founder alone. Requires a 32-byte key."""
    if len(patient_key) != PATIENT_KEY_BYTES:
        raise ShareError(f"the patient key must be {PATIENT_KEY_BYTES} bytes")
    kid = kid_of(signing_key.public_key())
    payload = canonical({"consortium": consortium, "patient_key": b64url(patient_key)})
    envelopes = {}
    for card in founders:
        to = [Recipient(card.org, encryption_jwk(card))]
        sealed = seal(payload, sender, kid, signing_key, to, cty=SHARE_CTY)
        envelopes[card.org] = sealed.decode("ascii")
    return PatientKeyShares(sender, kid, key_check(patient_key, consortium), envelopes)


def open_share(
    shares: PatientKeyShares,
    org: str,
    private_jwk: Mapping[str, str],
    sender_record: Mapping[str, Any],
    consortium: str,
) -> bytes:
    """``org``'s patient key out of ``shares``, checked: sealed by ``sender_record`` (the first
    founder's member record) under the kid ``shares`` names, for this ``consortium``, matching the
    check value. Raises ShareError otherwise."""
    envelope = shares.envelopes.get(org)
    if envelope is None:
        raise ShareError(f"there is no patient-key share for {org}")

    def sender_key(sender: str, kid: str) -> ec.EllipticCurvePublicKey | None:
        if sender != sender_record["org"] or kid != shares.kid:
            return None
        for key in sender_record["signing_keys"]:
            if key["kid"] == kid:
                return load_public_key_b64(key["pub"])
        return None

    try:
        opened = open_envelope(envelope.encode("ascii"), org, private_jwk, sender_key)
        payload = json.loads(opened.payload)
        patient_key = b64url_decode(payload["patient_key"])
        bound = payload["consortium"]
    except (EnvelopeError, ValueError, KeyError, TypeError) as exc:
        raise ShareError(f"{org}'s patient-key share does not open: {exc}") from exc
    if opened.sender_org != sender_record["org"]:
        raise ShareError("the patient-key share was not sealed by the first founder")
    if bound != consortium:
        raise ShareError("the patient-key share belongs to another consortium")
    if len(patient_key) != PATIENT_KEY_BYTES:
        raise ShareError(f"the shared patient key is not {PATIENT_KEY_BYTES} bytes")
    if not hmac.compare_digest(key_check(patient_key, consortium), shares.check):
        raise ShareError("the patient key does not match the package's key check value")
    return patient_key
