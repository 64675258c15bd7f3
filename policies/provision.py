"""Evaluation of a FHIR Consent provision tree for one request: per resource type, permit or deny.

Conditions of a provision are conjunctive across elements and disjunctive within one (any listed
actor, any listed purpose). A nested provision is an exception to its parent: where it applies it
overrides the parent, and among sibling exceptions that apply, deny overrides permit.

Type-level conditions (period, actor, action, purpose, class) decide whether a provision applies
to a resource type. Data-level conditions (securityLabel, code, dataPeriod, data references) select
a part of the data, which a decision at type level cannot cut out: they become obligations the
custodian's gateway applies when it assembles the release. A deny over a part becomes
`Exclude(part)`; a permit over a part (an exception inside a deny) becomes `Limit(part)`, where a
part is a `SecurityLabel`, `DataPeriod`, `ContentCode` or `DataReference` (policies.obligations). When the request states its data period or security labels, such a
condition is settled here instead: disjoint means the provision does not apply, fully covered
means it applies to the whole type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from policies.consent import Actor, Provision
from policies.model import Effect, Request
from policies.obligations import (
    ContentCode,
    DataPart,
    DataPeriod,
    DataReference,
    Exclude,
    Limit,
    Obligation,
    SecurityLabel,
)

# Consent actions that cover releasing data to another organisation; "collect" and "correct" do not.
RELEASE_ACTIONS = frozenset({"access", "disclose"})


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a consent says about one resource type.

    `effect` None: neither permit nor deny, though `obligations` may still withhold a part of the
    data (`Exclude`), whatever basis permits the type. `Limit` obligations only bind a release
    that rests on this consent.
    """

    effect: Effect | None
    obligations: frozenset[Obligation]


# Parts and obligations are immutable and the same ones recur in every decision over one
# consent: each is built once (decide is on the hot path).
_label = lru_cache(maxsize=1024)(SecurityLabel)
_period = lru_cache(maxsize=1024)(DataPeriod)
_code = lru_cache(maxsize=4096)(ContentCode)
_exclude = lru_cache(maxsize=4096)(Exclude)
_limit = lru_cache(maxsize=4096)(Limit)

NO_VERDICT = Verdict(None, frozenset())
DENIED = Verdict(Effect.DENY, frozenset())
PERMITTED = Verdict(Effect.PERMIT, frozenset())
_WHOLE: frozenset[DataPart] = frozenset()
_NO_TYPES: frozenset[str] = frozenset()


class Context(NamedTuple):
    """One request being evaluated (a tuple: built once per decision, on the hot path)."""

    request: Request
    now: int
    purposes: frozenset[str]  # the request's purpose and the purposes it specialises


def evaluate(root: Provision, ctx: Context, types: frozenset[str]) -> dict[str, Verdict]:
    """Verdicts for the `types` the tree says something about; absent types: nothing said."""
    return _evaluate(root, ctx, types, {})


def whole_types(node: Provision, ctx: Context, types: frozenset[str]) -> frozenset[str]:
    """The types a leaf provision without data-level conditions applies to (empty: none).

    Requires: no children and not `node.data_level` (the fast path of `evaluate` for such nodes).
    """
    if _match(node, ctx) is None:
        return _NO_TYPES
    return types if node.classes is None else types & node.classes


def _evaluate(
    node: Provision, ctx: Context, types: frozenset[str], parent: Mapping[str, Verdict]
) -> dict[str, Verdict]:
    parts = _match(node, ctx)
    if parts is None:
        return {}
    applicable = types if node.classes is None else types & node.classes
    if not applicable:
        return {}
    out: dict[str, Verdict]
    if parts:
        out = {}
        for rtype in applicable:
            own = _own(node.effect, parts, parent.get(rtype, NO_VERDICT))
            if own is not None:
                out[rtype] = own
    else:  # the common case: the whole type, whatever the parent said
        out = dict.fromkeys(applicable, PERMITTED if node.effect is Effect.PERMIT else DENIED)
    if not node.children:
        return out
    base = {t: out.get(t, parent.get(t, NO_VERDICT)) for t in applicable}
    results = [_evaluate(child, ctx, applicable, base) for child in node.children]
    for rtype in applicable:
        said = [r[rtype] for r in results if rtype in r]
        if said:
            out[rtype] = _combine(said)
    return out


def _own(effect: Effect, parts: frozenset[DataPart], parent: Verdict) -> Verdict | None:
    """This node's verdict given its parent's; None when it changes nothing."""
    if not parts:
        return Verdict(effect, frozenset())
    if effect is Effect.DENY:
        if parent.effect is Effect.DENY:
            return None  # denying a part of what is already denied changes nothing
        # Under a permit, or alone: the part is withheld whatever basis permits the type.
        return Verdict(parent.effect, parent.obligations | {_exclude(p) for p in parts})
    if parent.effect is Effect.PERMIT:
        return None  # conservative: the parent's permit (and its limits) stands
    return Verdict(Effect.PERMIT, frozenset(_limit(p) for p in parts))


def _combine(verdicts: list[Verdict]) -> Verdict:
    """Sibling exceptions that apply: deny overrides; the others pool their obligations."""
    if len(verdicts) == 1:
        return verdicts[0]
    if any(v.effect is Effect.DENY for v in verdicts):
        return DENIED
    obligations: frozenset[Obligation] = frozenset().union(*(v.obligations for v in verdicts))
    permits = any(v.effect is Effect.PERMIT for v in verdicts)
    return Verdict(Effect.PERMIT if permits else None, obligations)


def _match(node: Provision, ctx: Context) -> frozenset[DataPart] | None:
    """None when a type-level condition fails; else the data-level parts it selects (empty: all)."""
    request = ctx.request
    if node.recipients and not any(_is_requester(a, request) for a in node.recipients):
        return None
    if node.purposes and node.purposes.isdisjoint(ctx.purposes):
        return None
    if node.period is not None and not node.period.contains(ctx.now):
        return None
    if node.sources and not any(a.org == request.custodian for a in node.sources):
        return None
    if node.actions and node.actions.isdisjoint(RELEASE_ACTIONS):
        return None
    if not node.data_level:
        return _WHOLE
    return _data_parts(node, request)


def _data_parts(node: Provision, request: Request) -> frozenset[DataPart] | None:
    """The data-level parts a provision selects; None when the request's data is disjoint."""
    parts: set[DataPart] = set()
    if node.security_labels:
        labels = node.security_labels
        if request.security_labels is not None:
            labels = tuple(x for x in labels if x in request.security_labels)
            if not labels:
                return None
        parts.update(_label(x) for x in labels)
    if node.data_period is not None:
        wanted = request.data_period
        if wanted is not None and not node.data_period.overlaps(wanted):
            return None
        if wanted is None or not node.data_period.covers(wanted):
            parts.add(_period(node.data_period))
    parts.update(_code(c) for c in node.codes)
    parts.update(_data_reference(d) for d in node.data)
    return frozenset(parts)


def _is_requester(actor: Actor, request: Request) -> bool:
    return actor.org == request.requester_org or actor.role == request.requester_role


@lru_cache(maxsize=1024)
def _data_reference(data: str) -> DataReference:
    meaning, _, reference = data.partition(":")  # the parser writes "meaning:reference"
    return DataReference(meaning, reference)
