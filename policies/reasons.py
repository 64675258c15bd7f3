"""The closed vocabulary of a decision's reasons: typed values with parameters, and their codes.

    policy:<role>/<purpose>      RuleApplied(role, purpose)     the consortium rule that applied
    consent:<id>                 ConsentApplied(consent_id)     a consent that permitted or denied
    grant:<id>                   GrantApplied(grant_id)         a custodian's grant that permitted
    withheld:<type>:<cause>      Withheld(type, WithheldCause)  a type asked for and not released
    break-glass                  BreakGlassUsed()
    deny:<cause>                 Denied(DenyCause)              why nothing is released

The codes are those of earlier releases: the decision digest is taken over them, so recorded
decisions replay to the same digest. `parse_reason` is the inverse of `code`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from policies.coded import Coded
from policies.errors import ReasonError


class DenyCause(enum.Enum):
    ERROR = "error"
    UNKNOWN_MEMBER = "unknown-member"
    NO_POLICY_RULE = "no-policy-rule"
    TYPES_NOT_IN_POLICY = "types-not-in-policy"
    CONSENT_REF_NOT_APPLICABLE = "consent-ref-not-applicable"
    CONSENT_DENIES = "consent-denies"
    NO_CONSENT = "no-consent"
    NO_GRANT = "no-grant"
    NO_CONSENT_OR_GRANT = "no-consent-or-grant"
    NOTHING_PERMITTED = "nothing-permitted"
    BREAK_GLASS_NOT_ALLOWED = "break-glass-not-allowed"
    BREAK_GLASS_IN_FUTURE = "break-glass-in-future"
    BREAK_GLASS_EXPIRED = "break-glass-expired"


class WithheldCause(enum.Enum):
    POLICY = "policy"  # the rule never releases the type
    CONSENT = "consent"  # a patient's consent denies it
    NO_BASIS = "no-basis"  # nothing the rule admits permits it
    UNREFERENCED = "unreferenced"  # a referenced type without a primary type to follow


class Reason(Coded):
    """Base of every reason: equal, hashed and sorted by `code`."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, eq=False)
class RuleApplied(Reason):
    role: str
    purpose: str

    def _render(self) -> str:
        return f"policy:{self.role}/{self.purpose}"


@dataclass(frozen=True, slots=True, eq=False)
class ConsentApplied(Reason):
    consent_id: str

    def _render(self) -> str:
        return f"consent:{self.consent_id}"


@dataclass(frozen=True, slots=True, eq=False)
class GrantApplied(Reason):
    grant_id: str

    def _render(self) -> str:
        return f"grant:{self.grant_id}"


@dataclass(frozen=True, slots=True, eq=False)
class Withheld(Reason):
    resource_type: str
    cause: WithheldCause

    def _render(self) -> str:
        return f"withheld:{self.resource_type}:{self.cause.value}"


@dataclass(frozen=True, slots=True, eq=False)
class BreakGlassUsed(Reason):
    def _render(self) -> str:
        return "break-glass"


@dataclass(frozen=True, slots=True, eq=False)
class Denied(Reason):
    cause: DenyCause

    def _render(self) -> str:
        return f"deny:{self.cause.value}"


def parse_reason(code: str) -> Reason:
    """The reason `code` names. Raises ReasonError outside the vocabulary."""
    kind, _, value = code.partition(":")
    found: Reason | None = None
    try:
        if code == "break-glass":
            found = BreakGlassUsed()
        elif kind == "deny":
            found = Denied(DenyCause(value))
        elif kind == "consent" and value:
            found = ConsentApplied(value)
        elif kind == "grant" and value:
            found = GrantApplied(value)
        elif kind == "policy" and "/" in value:
            role, _, purpose = value.partition("/")
            found = RuleApplied(role, purpose)
        elif kind == "withheld":
            rtype, _, cause = value.partition(":")
            found = Withheld(rtype, WithheldCause(cause))
    except ValueError as exc:
        raise ReasonError(code) from exc
    if found is None or found.code != code:
        raise ReasonError(code)
    return found
