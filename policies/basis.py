"""What the patient's consents, consent terms and the custodian's grants say about one request.

Every applicable consent is read for its denies (deny overrides, whatever the rule's basis), but
only the kinds of basis the policy rule admits can permit, and with a `consent_ref` only that
consent can. `Limit` obligations bind a type only when every basis permitting it is limited
(a release resting on an unlimited basis needs no limit); `Exclude` obligations from any
applicable consent always bind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from policies.document import Basis, Rule
from policies.facts import Facts
from policies.model import Effect, Request, purpose_lineage
from policies.obligations import Limit, Obligation
from policies.provision import Context, Verdict, evaluate, whole_types
from policies.reasons import ConsentApplied, DenyCause, GrantApplied, Reason

# Reasons are immutable: the same consent or grant gives the same value, built once (hot path).
_consent = lru_cache(maxsize=4096)(ConsentApplied)
_grant = lru_cache(maxsize=1024)(GrantApplied)


@dataclass(slots=True)
class Bases:
    """Mutable accumulator of one request's evaluation (never leaves `decide`)."""

    permitted: set[str]
    denied: set[str]
    reasons: list[Reason]
    ref_problem: DenyCause | None
    unlimited: set[str]  # types some basis permits without a limit
    limits: dict[str, set[Obligation]]  # type -> Limit obligations of the limited bases
    exclusions: dict[str, set[Obligation]]

    def obligations_for(self, permitted: set[str], basis: Basis) -> set[Obligation]:
        """Exclusions on the permitted types, and limits where every permitting basis is limited."""
        out: set[Obligation] = set()
        for rtype in permitted:
            out |= self.exclusions.get(rtype, set())
            if basis is not Basis.POLICY and rtype not in self.unlimited:
                out |= self.limits.get(rtype, set())
        return out

    def add_whole(
        self, reason: Reason, types: frozenset[str], effect: Effect, counts: bool
    ) -> None:
        """Record a verdict on whole types (no part, no obligation): the common, fast case."""
        if effect is Effect.DENY:
            self.denied |= types
        elif counts:
            self.permitted |= types
            self.unlimited |= types
        else:
            return
        self.reasons.append(reason)

    def add(self, reason: Reason, verdicts: Mapping[str, Verdict], counts: bool) -> None:
        """Record one consent's verdicts; `counts`: it may serve as a basis for this request."""
        used = False
        for rtype, verdict in verdicts.items():
            if verdict.effect is Effect.DENY:
                self.denied.add(rtype)
                used = True
                continue
            limits = verdict.obligations
            if limits:
                withheld = {o for o in limits if not isinstance(o, Limit)}
                if withheld:
                    self.exclusions.setdefault(rtype, set()).update(withheld)
                    limits = limits - withheld
                    used = True
            if verdict.effect is Effect.PERMIT and counts:
                self.permitted.add(rtype)
                if limits:
                    self.limits.setdefault(rtype, set()).update(limits)
                else:
                    self.unlimited.add(rtype)
                used = True
        if used:
            self.reasons.append(reason)


def collect_bases(
    request: Request, facts: Facts, rule: Rule, allowed: frozenset[str], now: int
) -> Bases:
    """Read every fact that concerns this request. Requires `allowed` within the rule's types."""
    ctx = Context(request, now, purpose_lineage(request.purpose))
    bases = Bases(set(), set(), [], None, set(), {}, {})
    consents_count = rule.basis in (Basis.CONSENT, Basis.CONSENT_OR_GRANT)
    ref = request.consent_ref
    ref_found = False
    org, role, patient = request.requester_org, request.requester_role, request.patient_ref
    for record in facts.consents_for(patient, org, role):  # live consents only
        ref_found = ref_found or record.consent_id == ref
        counts = consents_count and ref in (None, record.consent_id)
        root = record.root
        if root.children or root.data_level:
            bases.add(_consent(record.consent_id), evaluate(root, ctx, allowed), counts)
        else:
            types = whole_types(root, ctx, allowed)
            if types:
                bases.add_whole(_consent(record.consent_id), types, root.effect, counts)
    for terms in facts.terms_for(patient, org, role):  # live terms only
        if not terms.period.contains(now) or (terms.purposes and not terms.purposes & ctx.purposes):
            continue
        ref_found = ref_found or terms.consent_id == ref
        types = allowed & terms.resource_types if terms.resource_types else allowed
        counts = consents_count and ref in (None, terms.consent_id)
        if types:
            bases.add_whole(_consent(terms.consent_id), types, terms.effect, counts)
    if rule.basis in (Basis.GRANT, Basis.CONSENT_OR_GRANT):
        for grant in facts.grants_for(request.custodian, org):  # live grants only
            if now < grant.expires and not grant.purposes.isdisjoint(ctx.purposes):
                types = allowed & grant.resource_types
                if types:
                    bases.add_whole(_grant(grant.grant_id), types, Effect.PERMIT, True)
    if ref is not None and not ref_found:
        bases.ref_problem = DenyCause.CONSENT_REF_NOT_APPLICABLE
    return bases
