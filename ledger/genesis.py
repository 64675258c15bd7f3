"""Building the genesis entry of a new consortium, and naming the consortium by it.

Genesis is signed by the first founding member and endorsed by every other founder, so every founder
has signed the membership, quorum rule and policy the consortium starts from. Its rules of
validity live in ledger.validation.genesis_rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ledger.entries import EntryType, leaf_tx_id, make_tx, sign_entry
from ledger.ids import ConsortiumId, OrgId
from ledger.signing import ES256, kid_of, public_key_b64


def signing_key_record(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """``{kid, pub, alg}`` as a member record lists a signing key."""
    return {"kid": kid_of(public_key), "pub": public_key_b64(public_key), "alg": ES256}


def member_record(
    org: OrgId,
    role: str,
    name: str,
    endpoint: str,
    signing_keys: Sequence[ec.EllipticCurvePublicKey],
    encryption_keys: Sequence[Mapping[str, Any]] = (),
    ca_chain: Sequence[str] = (),
) -> dict[str, Any]:
    """A member record for genesis or ``member.add``.

    ``role`` is hospital, insurer or agency; ``encryption_keys`` are ``{kid, alg, jwk}`` with a
    *public* JWK; ``ca_chain`` holds DER certificates as unpadded base64url.
    """
    return {
        "org": org,
        "role": role,
        "name": name,
        "endpoint": endpoint,
        "signing_keys": [signing_key_record(k) for k in signing_keys],
        "encryption_keys": [dict(k) for k in encryption_keys],
        "ca_chain": list(ca_chain),
        "status": "active",
    }


def build_genesis(
    name: str,
    members: Sequence[Mapping[str, Any]],
    quorum: Mapping[str, Any],
    policy: Mapping[str, Any],
    ts: int,
    nonce: str,
    signers: Mapping[OrgId, ec.EllipticCurvePrivateKey],
) -> bytes:
    """The signed genesis leaf.

    Requires: ``members`` non-empty; ``signers`` holds, for every member's org, the private key of
    one of its ``signing_keys``. The first member submits (signs ``tx``); every other one endorses.
    ``quorum`` is ``{"rule": "ALL"|"MAJORITY"|"K_OF_N", "k"?: int}``; ``policy`` is
    ``{"version": str, "digest": hex}``.
    """
    if not members:
        raise ValueError("genesis needs at least one founding member")
    orgs = [OrgId(m["org"]) for m in members]
    missing = [org for org in orgs if org not in signers]
    if missing:
        raise ValueError(f"no signing key given for founders {missing}")
    submitter = orgs[0]
    body = {
        "name": name,
        "members": [dict(m) for m in members],
        "quorum": dict(quorum),
        "policy": dict(policy),
    }
    key = signers[submitter]
    tx = make_tx(EntryType.GENESIS, submitter, kid_of(key.public_key()), ts, nonce, body)
    endorsers = {org: signers[org] for org in orgs[1:]}
    return sign_entry(tx, key, endorsers)


def consortium_id(genesis_leaf: bytes) -> ConsortiumId:
    """The consortium's id: the tx id of its genesis transaction."""
    return ConsortiumId(leaf_tx_id(genesis_leaf))
