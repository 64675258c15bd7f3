"""Request and response bodies of the patient's consent and notification routes (OpenAPI)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CODE = r"^[A-Za-z0-9._-]{1,64}$"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConsentGrantRequest(_Doc):
    grantee: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="member org id")
    purposes: list[str] = Field(
        min_length=1, max_length=10, description="HL7 v3 ActReason codes (TREAT, HPAYMT, ...)"
    )
    resource_types: list[str] = Field(
        min_length=1, max_length=20, description="FHIR resource types (Claim, Observation, ...)"
    )
    start: date = Field(description="first day the consent permits (UTC)")
    end: date = Field(description="the last day it permits (UTC, inclusive)")


class ConsentGranted(_Doc):
    consent_id: str = Field(description="the opaque id the ledger knows the consent by")
    status: Literal["active"]


class Grantee(_Doc):
    org: str | None
    role: str | None
    name: str


class ConsentRow(_Doc):
    consent_id: str
    custodian: str
    grantee: Grantee
    purposes: list[str]
    purposes_text: list[str]
    resource_types: list[str]
    resource_text: str
    period: dict[str, int | None] = Field(description="epoch ms; null: open")
    status: Literal["active", "revoked"]
    in_force: bool
    revocable: bool = Field(description="a consent of yours written at this hospital, active")


class ConsentList(_Doc):
    consents: list[ConsentRow]


class MemberRow(_Doc):
    org: str
    name: str
    role: str


class MemberList(_Doc):
    members: list[MemberRow]
    purposes: dict[str, str] = Field(description="purpose code -> words")
    resource_kinds: dict[str, str] = Field(description="resource type -> words")


class NotificationRow(_Doc):
    id: str = Field(description="the access record's tx id")
    kind: Literal["break-glass", "notify-patient"]
    requester: dict[str, str]
    custodian: str
    purpose: str
    purpose_text: str
    at: int = Field(description="epoch ms of the access")
    read: bool


class NotificationList(_Doc):
    notifications: list[NotificationRow]


class Done(_Doc):
    ok: Literal[True]


def row_of(note: dict[str, Any], purpose_text: str) -> dict[str, Any]:
    return note | {"purpose_text": purpose_text}
