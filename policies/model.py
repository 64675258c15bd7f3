"""Core values of the decision point: periods, requests, consent terms, grants and decisions."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from policies.canonical import ascii_keyed_digest

if TYPE_CHECKING:  # obligations name periods: the import runs the other way at run time
    from policies.obligations import Obligation
    from policies.reasons import Reason

_Coded = TypeVar("_Coded", "Reason", "Obligation")


class Effect(enum.Enum):
    PERMIT = "permit"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open interval [start, end) of epoch milliseconds; None: unbounded on that side."""

    start: int | None = None
    end: int | None = None

    def contains(self, ms: int) -> bool:
        return (self.start is None or self.start <= ms) and (self.end is None or ms < self.end)

    def overlaps(self, other: Period) -> bool:
        return _lt(other.start, self.end) and _lt(self.start, other.end)

    def covers(self, other: Period) -> bool:
        """True when every instant of `other` lies in this period."""
        starts_ok = self.start is None or (other.start is not None and self.start <= other.start)
        ends_ok = self.end is None or (other.end is not None and other.end <= self.end)
        return starts_ok and ends_ok

    def label(self) -> str:
        """`<start>/<end>` in epoch ms, `..` for an open side (used in obligation codes)."""
        return f"{_side(self.start)}/{_side(self.end)}"

    def to_json(self) -> dict[str, int | None]:
        return {"start": self.start, "end": self.end}


def _lt(a: int | None, b: int | None) -> bool:
    return a is None or b is None or a < b


def _side(ms: int | None) -> str:
    return ".." if ms is None else str(ms)


# HL7 v3 ActReason specialisations: a basis granted for the general purpose covers the special one
# (consent "for treatment" covers emergency treatment), never the reverse.
_PURPOSE_PARENTS: dict[str, tuple[str, ...]] = {
    "ETREAT": ("TREAT",),
    "CLINTRCH": ("HRESCH",),
    "COVAUTH": ("HPAYMT",),
    "CLMATTCH": ("HPAYMT",),
    "ELIGDTRM": ("HPAYMT",),
    "PATADMIN": ("HOPERAT",),
}


_LINEAGES = {p: frozenset((p, *parents)) for p, parents in _PURPOSE_PARENTS.items()}


def purpose_lineage(purpose: str) -> frozenset[str]:
    """`purpose` and every purpose it specialises: a basis for any of them covers `purpose`."""
    found = _LINEAGES.get(purpose)
    return frozenset((purpose,)) if found is None else found


@dataclass(frozen=True, slots=True)
class Request:
    """What a requester asks a custodian for. `resource_types` must be non-empty.

    `data_period` and `security_labels` describe the data asked for when the requester knows it:
    None means unknown, so data-level consent conditions become filter obligations instead.
    `break_glass_started` is when the glass was broken (epoch ms); None means at `now`.
    """

    requester_org: str
    requester_role: str
    custodian: str
    patient_ref: str
    resource_types: tuple[str, ...]
    purpose: str
    break_glass: bool = False
    consent_ref: str | None = None
    data_period: Period | None = None
    security_labels: tuple[str, ...] | None = None
    break_glass_started: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "requester_org": self.requester_org,
            "requester_role": self.requester_role,
            "custodian": self.custodian,
            "patient_ref": self.patient_ref,
            "resource_types": list(self.resource_types),
            "purpose": self.purpose,
            "break_glass": self.break_glass,
            "consent_ref": self.consent_ref,
            "data_period": None if self.data_period is None else self.data_period.to_json(),
            "security_labels": None if self.security_labels is None else list(self.security_labels),
            "break_glass_started": self.break_glass_started,
        }


@dataclass(frozen=True, slots=True)
class ConsentTerms:
    """A consent flattened to the terms a `consent.grant` carries on the ledger.

    `grantee_org`/`grantee_role` None means any; empty `purposes` or `resource_types` mean any.
    `effect` DENY is a flattened opt-out. Only status "active" applies.
    """

    consent_id: str
    patient_ref: str
    grantee_org: str | None
    grantee_role: str | None
    purposes: frozenset[str]
    resource_types: frozenset[str]
    period: Period
    status: str
    consent_digest: str | None
    effect: Effect = Effect.PERMIT


@dataclass(frozen=True, slots=True)
class Grant:
    """An organisation-to-organisation access grant; valid while not revoked and now < expires."""

    grant_id: str
    grantor: str
    grantee: str
    resource_types: frozenset[str]
    purposes: frozenset[str]
    expires: int
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer. PERMIT only with no errors and at least one permitted type.

    `reasons` and `obligations` are typed values of closed vocabularies (policies.reasons,
    policies.obligations), sorted by code. `decision_digest` is the hex SHA-256 of `to_json()`,
    which carries their codes: what an `access.record` stores.
    """

    effect: Effect
    permitted_types: tuple[str, ...]
    reasons: tuple[Reason, ...]
    obligations: tuple[Obligation, ...]
    errors: tuple[str, ...]
    input_digest: str
    policy_version: str
    decision_digest: str

    def to_json(self) -> dict[str, Any]:
        """Canonical-ready body of the decision, without its own digest."""
        return decision_body(
            self.effect,
            self.permitted_types,
            self.reasons,
            self.obligations,
            self.errors,
            self.input_digest,
            self.policy_version,
        )

    @property
    def obligation_codes(self) -> tuple[str, ...]:
        return tuple(o.code for o in self.obligations)

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)


def decision_body(
    effect: Effect,
    permitted_types: tuple[str, ...],
    reasons: tuple[Reason, ...],
    obligations: tuple[Obligation, ...],
    errors: tuple[str, ...],
    input_digest: str,
    policy_version: str,
) -> dict[str, Any]:
    return {
        "effect": effect.value,
        "permitted_types": list(permitted_types),
        "reasons": [r.code for r in reasons],
        "obligations": [o.code for o in obligations],
        "errors": list(errors),
        "input_digest": input_digest,
        "policy_version": policy_version,
    }


def make_decision(
    effect: Effect,
    permitted_types: tuple[str, ...],
    reasons: Iterable[Reason],
    obligations: Iterable[Obligation],
    errors: tuple[str, ...],
    input_digest: str,
    policy_version: str,
) -> Decision:
    """Build a Decision and its digest. A DENY never carries permitted types. Reasons and
    obligations are kept once each, sorted by code (the digest pins their order)."""
    types = permitted_types if effect is Effect.PERMIT else ()
    reason_codes, reasons_ = _by_code(reasons)
    obligation_codes, obligations_ = _by_code(obligations)
    body = {  # decision_body, with each code computed once (decide is on the hot path)
        "effect": effect.value,
        "permitted_types": list(types),
        "reasons": reason_codes,
        "obligations": obligation_codes,
        "errors": list(errors),
        "input_digest": input_digest,
        "policy_version": policy_version,
    }
    return Decision(
        effect,
        types,
        reasons_,
        obligations_,
        errors,
        input_digest,
        policy_version,
        ascii_keyed_digest(body),
    )


def _by_code(values: Iterable[_Coded]) -> tuple[list[str], tuple[_Coded, ...]]:
    """The codes, sorted and distinct, and the values in that order."""
    by_code = {v.code: v for v in values}
    codes = sorted(by_code)
    return codes, tuple(by_code[c] for c in codes)
