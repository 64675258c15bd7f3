"""Response bodies as the OpenAPI document states them (documentation models: the routes build
their JSON directly; the schemathesis suite checks every answer against these)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

HEX64 = r"^[0-9a-f]{64}$"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SmartConfiguration(_Doc):
    issuer: str
    token_endpoint: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]
    scopes_supported: list[str]
    capabilities: list[str]
    authorization_endpoint: str
    revocation_endpoint: str
    response_types_supported: list[str]
    code_challenge_methods_supported: list[str]


class TokenResponse(_Doc):
    access_token: str = Field(description="ES256 JWT; send as Authorization: Bearer")
    token_type: Literal["bearer"]
    expires_in: int = Field(description="seconds (300)")
    scope: str = Field(description="the granted scopes, space-separated")


class PatientToken(_Doc):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    patient_ref: str = Field(pattern=r"^[A-Za-z0-9_-]{43}$")


class Health(_Doc):
    status: Literal["ok"]


class Ready(_Doc):
    status: Literal["ready"]
    peers: Literal["on", "off"]
    checkpoints: Literal["on", "off"]
    view_age_ms: int | None = None
    """Milliseconds since this gateway last confirmed it holds the whole ledger (bounded
    staleness); absent when it runs without a ledger."""


class Whoami(_Doc):
    org: str
    purpose_of_use: str
    consent_reference: str | None
    jti: str


class Stored(_Doc):
    stored: list[str] = Field(description="Type/id of each stored resource")
    envelope_digest: str = Field(pattern=HEX64)


class Delivery(_Doc):
    org: str
    status: str = Field(
        description="delivered, denied (policy), refused:<http status> (the recipient), unavailable"
    )
    tx_id: str | None = Field(description="access.record tx_id, when one was recorded")


class Delivered(_Doc):
    delivered: list[Delivery]


class BlockHeader(_Doc):
    height: int = Field(ge=0)
    block_hash: str = Field(pattern=HEX64)
    prev_hash: str = Field(pattern=HEX64)
    first_index: int = Field(ge=0)
    count: int = Field(ge=0)
    tree_size: int = Field(ge=0)
    tree_root: str = Field(pattern=HEX64)
    ts: int
    codes_digest: str = Field(pattern=HEX64)


class LedgerEntry(_Doc):
    index: int = Field(ge=0)
    tx_id: str = Field(pattern=HEX64)
    code: int = Field(description="validation code, 0 = valid")
    height: int = Field(ge=0)
    leaf: str = Field(description="the leaf bytes, base64url")
    leaf_hash: str = Field(pattern=HEX64)


class InclusionProof(_Doc):
    index: int
    tree_size: int
    hashes: list[str]


class ConsistencyProof(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    first: int = Field(alias="from")
    second: int = Field(alias="to")
    hashes: list[str]


class Checkpoint(_Doc):
    consortium: str = Field(pattern=HEX64)
    height: int = Field(ge=0)
    block_hash: str = Field(pattern=HEX64)
    tree_size: int = Field(ge=0)
    tree_root: str = Field(pattern=HEX64)


class Cosignature(_Doc):
    org: str
    kid: str
    sig: str = Field(description="ES256 over the canonical JSON of cp, base64url r || s")


class CosignedCheckpoint(_Doc):
    cp: Checkpoint
    signatures: list[Cosignature]


class AlarmCleared(_Doc):
    cleared: dict[str, Any] | None


class PatientAudit(_Doc):
    patient_ref: str
    checkpoint: dict[str, Any] | None
    entries: list[dict[str, Any]]
    pending: int
    note: str
    cosigners: list[dict[str, str]] = Field(
        default_factory=list, description="the checkpoint's cosigners: org and registered name"
    )


class PolicyInForce(_Doc):
    version: str = Field(description="the policy document's version")
    digest: str = Field(pattern=HEX64, description="SHA-256 of its canonical JSON, as recorded")
    set_at_index: int = Field(ge=0, description="ledger index of the entry that put it in force")
    height: int = Field(ge=0, description="ledger height this answer was read at")
    document: dict[str, Any] = Field(description="the policy: roles, purposes, rules")


class ProposalQuorum(_Doc):
    rule: dict[str, Any] | None = Field(description="the rule in force: {rule, k?}")
    electorate: int = Field(description="active members who may sign this proposal")
    needed: int | None = Field(description="signers needed; null: the rule cannot be met")
    signers: list[str] = Field(description="members whose signatures count (proposer first)")
    met: bool


class ProposalEntry(_Doc):
    index: int
    height: int
    code: str = Field(description="the ledger's validation code name (VALID when committed)")


class Proposal(_Doc):
    id: str = Field(pattern=r"^[0-9a-f]{16}$", description="the digest's first 16 hex digits")
    digest: str = Field(pattern=HEX64, description="tx id: SHA-256 of the canonical tx")
    type: Literal["member.add", "member.update", "member.remove", "policy.set"]
    proposer: str
    proposed_ms: int
    expires_ms: int
    status: Literal["open", "quorum-met", "committed", "refused", "expired"]
    tx: dict[str, Any] = Field(description="the exact unsigned governance transaction")
    endorsed_by: list[str] = Field(description="members whose endorsement verifies and counts")
    quorum: ProposalQuorum
    entry: ProposalEntry | None = Field(description="the ledger entry, once committed")


class ProposalList(_Doc):
    proposals: list[Proposal]
