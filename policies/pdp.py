"""The policy decision point: `decide(request, facts, now) -> Decision`, pure and replayable.

Order of judgement: errors deny; an unknown member is denied; the (role, purpose) rule of the
consortium policy bounds the types that may ever be released; break-glass, where the rule allows
it, sets the patient's consents aside for a time-boxed window; otherwise each type must rest on
the basis the rule demands (the policy itself, a patient consent, a custodian's grant), and any
applicable patient deny withholds it (deny overrides permit). No type left means DENY.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from functools import lru_cache

from policies.basis import Bases, collect_bases
from policies.canonical import MAX_SAFE_INTEGER, ascii_keyed_digest
from policies.document import Basis, Rule
from policies.errors import EncodingError
from policies.facts import Facts
from policies.model import Decision, Effect, Request, make_decision
from policies.obligations import AUDIT, REFERENCED_ONLY, BreakGlassUntil, Obligation
from policies.reasons import (
    BreakGlassUsed,
    Denied,
    DenyCause,
    Reason,
    RuleApplied,
    Withheld,
    WithheldCause,
)

MINUTE_MS = 60_000
# Reasons are immutable: each is built once and shared between decisions (decide is hot).
_rule = lru_cache(maxsize=256)(RuleApplied)
_withheld = lru_cache(maxsize=1024)(Withheld)
_denied = lru_cache(maxsize=None)(Denied)  # one per DenyCause
DENY_OBLIGATIONS: tuple[Obligation, ...] = (AUDIT,)
"""Denials are recorded too (audit before release, ARCHITECTURE §1)."""


def input_digest(request: Request, facts: Facts, now: int) -> str:
    """Hex SHA-256 over the canonical JSON of request, facts digest, now and policy digest."""
    return ascii_keyed_digest(
        {
            "request": request.to_json(),
            "facts": facts.digest,
            "now": now,
            "policy": facts.policy.digest,
        }
    )


@dataclass(frozen=True, slots=True)
class _Answer:
    """Builds the decisions of one request: they share its input digest and policy version."""

    digest: str
    version: str

    def deny(
        self, reasons: list[Reason], cause: DenyCause, errors: tuple[str, ...] = ()
    ) -> Decision:
        # DENY carries the audit obligation only: a denial is recorded, nothing is released.
        return make_decision(
            Effect.DENY,
            (),
            [*reasons, _denied(cause)],
            DENY_OBLIGATIONS,
            errors,
            self.digest,
            self.version,
        )

    def permit(
        self, types: Set[str], reasons: list[Reason], obligations: Set[Obligation]
    ) -> Decision:
        return make_decision(
            Effect.PERMIT,
            tuple(sorted(types)),
            reasons,
            obligations,
            (),
            self.digest,
            self.version,
        )


def decide(request: Request, facts: Facts, now: int) -> Decision:
    """Decide `request` against `facts` at `now` (epoch ms). Never raises for bad input: denies.

    A request that cannot be encoded canonically (integers beyond I-JSON, unencodable strings)
    has no input digest: it is denied with the error and an empty `input_digest`.
    """
    digest, errors = _digest_and_errors(request, facts, now)
    answer = _Answer(digest, facts.policy.version)
    if errors:
        return answer.deny([], DenyCause.ERROR, errors)
    if facts.members is not None and request.requester_org not in facts.members:
        return answer.deny([], DenyCause.UNKNOWN_MEMBER)
    rule = facts.policy.rule(request.requester_role, request.purpose)
    if rule is None:
        return answer.deny([], DenyCause.NO_POLICY_RULE)
    wanted = frozenset(request.resource_types)
    allowed = wanted & (rule.resource_types | rule.referenced_types)
    reasons: list[Reason] = [_rule(request.requester_role, request.purpose)]
    reasons += (_withheld(t, WithheldCause.POLICY) for t in wanted - allowed)
    if not allowed & rule.resource_types:
        return answer.deny(reasons, DenyCause.TYPES_NOT_IN_POLICY)
    if request.break_glass:
        return _break_glass(request, rule, allowed, now, reasons, answer)
    bases = collect_bases(request, facts, rule, allowed, now)
    reasons += bases.reasons
    if bases.ref_problem is not None:
        return answer.deny(reasons, bases.ref_problem)
    permitted = _permitted(rule, allowed, bases, reasons)
    if not permitted:
        causes = _deny_causes(rule, bases, allowed)
        return answer.deny([*reasons, *map(_denied, causes[1:])], causes[0])
    obligations = set(rule.obligations) | bases.obligations_for(permitted, rule.basis)
    if permitted & rule.referenced_types:
        obligations.add(REFERENCED_ONLY)
    return answer.permit(permitted, reasons, obligations)


def _digest_and_errors(request: Request, facts: Facts, now: int) -> tuple[str, tuple[str, ...]]:
    errors = _number_errors(request, now)
    try:
        digest = "" if errors else input_digest(request, facts, now)
    except EncodingError as exc:
        digest, errors = "", (f"request: {exc.problem}",)
    return digest, errors + _request_errors(request) + facts.errors


def _permitted(
    rule: Rule, allowed: frozenset[str], bases: Bases, reasons: list[Reason]
) -> set[str]:
    permitted: set[str] = set()
    for rtype in sorted(allowed):
        if rtype in bases.denied:
            reasons.append(_withheld(rtype, WithheldCause.CONSENT))
        elif rule.basis is not Basis.POLICY and rtype not in bases.permitted:
            reasons.append(_withheld(rtype, WithheldCause.NO_BASIS))
        else:
            permitted.add(rtype)
    # Referenced types only travel with what references them: no primary type, nothing to follow.
    if not permitted & rule.resource_types:
        reasons.extend(_withheld(t, WithheldCause.UNREFERENCED) for t in sorted(permitted))
        return set()
    return permitted


_NO_BASIS = {
    Basis.CONSENT: DenyCause.NO_CONSENT,
    Basis.GRANT: DenyCause.NO_GRANT,
    Basis.CONSENT_OR_GRANT: DenyCause.NO_CONSENT_OR_GRANT,
}


def _deny_causes(rule: Rule, bases: Bases, allowed: frozenset[str]) -> list[DenyCause]:
    """Why nothing is permitted (at least one cause)."""
    causes = []
    if bases.denied & allowed:
        causes.append(DenyCause.CONSENT_DENIES)
    if allowed - bases.denied - bases.permitted and rule.basis is not Basis.POLICY:
        causes.append(_NO_BASIS[rule.basis])
    return causes or [DenyCause.NOTHING_PERMITTED]


def _break_glass(
    request: Request,
    rule: Rule,
    allowed: frozenset[str],
    now: int,
    reasons: list[Reason],
    answer: _Answer,
) -> Decision:
    """Emergency access: the rule's types without a basis and despite patient denies, time-boxed."""
    glass = rule.break_glass
    if glass is None:
        return answer.deny(reasons, DenyCause.BREAK_GLASS_NOT_ALLOWED)
    started = now if request.break_glass_started is None else request.break_glass_started
    until = started + glass.minutes * MINUTE_MS
    if started > now:
        return answer.deny(reasons, DenyCause.BREAK_GLASS_IN_FUTURE)
    if now >= until:
        return answer.deny(reasons, DenyCause.BREAK_GLASS_EXPIRED)
    obligations = {*rule.obligations, *glass.obligations, BreakGlassUntil(until)}
    if allowed & rule.referenced_types:
        obligations.add(REFERENCED_ONLY)
    return answer.permit(allowed, [*reasons, BreakGlassUsed()], obligations)


def _request_errors(request: Request) -> tuple[str, ...]:
    errors = []
    if not request.resource_types:
        errors.append("request.resource_types: must not be empty")
    for name in ("requester_org", "requester_role", "custodian", "patient_ref", "purpose"):
        if not getattr(request, name):
            errors.append(f"request.{name}: must not be empty")
    return tuple(errors)


def _number_errors(request: Request, now: int) -> tuple[str, ...]:
    errors = []
    period = request.data_period
    # These integers enter the input digest: outside I-JSON they have no canonical form.
    numbers = {"now": now, "request.break_glass_started": request.break_glass_started}
    if period is not None:
        numbers.update(
            {"request.data_period.start": period.start, "request.data_period.end": period.end}
        )
    for name, value in numbers.items():
        if value is not None and not _safe_int(value):
            errors.append(f"{name}: must be an integer within the I-JSON range (epoch ms)")
    return tuple(errors)


def _safe_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_SAFE_INTEGER
