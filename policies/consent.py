"""FHIR R4 Consent resources (as dicts) parsed into the provision-tree model the evaluator walks.

Only what a release decision needs is kept. Actors are organisations of the consortium: a
reference `Organization/<id>`, or an identifier with system `urn:medgate:org` (an organisation) or
`urn:medgate:role` (every member of a role). An actor naming a practitioner or a person never
matches an organisation's request: the decision point decides for organisations, not for users.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from policies.errors import FactsError
from policies.fhirtime import lower_ms, upper_ms
from policies.model import Effect, Period

RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types"
ORG_SYSTEM = "urn:medgate:org"
ROLE_SYSTEM = "urn:medgate:role"
STATUSES = frozenset({"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"})
# v3 ParticipationType roles that name where the data comes from, not who receives it.
SOURCE_ROLES = frozenset({"CST", "AUT", "AUTHEN", "INF", "GRANTOR"})
OPT_OUT_RULES = frozenset({"OPTOUT", "OPTOUTE"})
# Consent scopes about sharing information; treatment and advance-directive consents are not.
SHARING_SCOPES = frozenset({"patient-privacy", "research"})
MAX_DEPTH = 16
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a provision is about. `org` or `role` set when it names a consortium party."""

    org: str | None
    role: str | None
    source: bool  # True: custodian/author role, matched against the request's custodian


@dataclass(frozen=True, slots=True)
class Provision:
    """One rule of the provision tree; empty tuples and None mean "no condition"."""

    effect: Effect
    period: Period | None
    recipients: tuple[Actor, ...]
    sources: tuple[Actor, ...]
    actions: frozenset[str]
    purposes: frozenset[str]
    classes: frozenset[str] | None  # resource type names; None: every type
    codes: tuple[str, ...]  # "system|code": content codes, and classes that are not resource types
    security_labels: tuple[str, ...]
    data_period: Period | None
    data: tuple[str, ...]  # "meaning:reference"
    children: tuple[Provision, ...]
    data_level: bool = False  # any of security_labels, data_period, codes, data: set by the parser


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    consent_id: str
    patient_ref: str
    status: str
    scope: str | None
    root: Provision


def parse_consent(resource: Mapping[str, Any], patient_ref: str | None = None) -> ConsentRecord:
    """A FHIR R4 Consent dict to a ConsentRecord. `patient_ref` overrides `Consent.patient`.

    Raises FactsError naming the path. The root provision's type defaults to deny under an opt-out
    policyRule (OPTOUT, OPTOUTE) and to permit otherwise; nested provisions must state theirs.
    """
    if resource.get("resourceType") != "Consent":
        raise FactsError("resourceType", "must be 'Consent'")
    consent_id = _text(resource.get("id"), "id")
    status = _text(resource.get("status"), "status")
    if status not in STATUSES:
        raise FactsError("status", f"{status!r} is not an R4 Consent status")
    patient = patient_ref or _text(
        _map(resource.get("patient"), "patient").get("reference"), "patient.reference"
    )
    scope = next(iter(_codes(resource.get("scope"), "scope")), None)
    rule_codes = _codes(resource.get("policyRule"), "policyRule")
    default = Effect.DENY if OPT_OUT_RULES & set(rule_codes) else Effect.PERMIT
    provision = resource.get("provision", {})
    root = _provision(_map(provision, "provision"), "provision", default, 0)
    return ConsentRecord(consent_id, patient, status, scope, root)


def _provision(
    doc: Mapping[str, Any], path: str, inherited: Effect | None, depth: int
) -> Provision:
    if depth > MAX_DEPTH:
        raise FactsError(path, f"provisions nested deeper than {MAX_DEPTH}")
    actors = _each(doc, "actor", path, _actor)
    classes, foreign = _classes(_list(doc, "class", path), f"{path}.class")
    codes = {f"{s}|{c}" for pairs in _each(doc, "code", path, _system_codes) for s, c in pairs}
    all_codes = tuple(sorted(codes | foreign))
    labels = tuple(sorted({code for _, code in _each(doc, "securityLabel", path, _coding)}))
    data_period = _period(doc.get("dataPeriod"), f"{path}.dataPeriod")
    data = tuple(_each(doc, "data", path, _data))

    def child(node: object, child_path: str) -> Provision:
        return _provision(_map(node, child_path), child_path, None, depth + 1)

    return Provision(
        effect=_effect(doc.get("type"), f"{path}.type", inherited),
        period=_period(doc.get("period"), f"{path}.period"),
        recipients=tuple(a for a in actors if not a.source),
        sources=tuple(a for a in actors if a.source),
        actions=frozenset(c for found in _each(doc, "action", path, _codes) for c in found),
        purposes=frozenset(code for _, code in _each(doc, "purpose", path, _coding)),
        classes=classes,
        codes=all_codes,
        security_labels=labels,
        data_period=data_period,
        data=data,
        children=tuple(_each(doc, "provision", path, child)),
        data_level=bool(labels or all_codes or data or data_period is not None),
    )


def _each(doc: Mapping[str, Any], key: str, path: str, parse: Callable[[Any, str], T]) -> list[T]:
    """`parse(item, item_path)` over the list at `doc[key]` (absent: empty)."""
    return [parse(item, f"{path}.{key}[{i}]") for i, item in enumerate(_list(doc, key, path))]


def _effect(value: object, path: str, inherited: Effect | None) -> Effect:
    if value is None:
        if inherited is None:
            raise FactsError(path, "is required in nested provisions (permit or deny)")
        return inherited
    if value not in ("permit", "deny"):
        raise FactsError(path, f"{value!r} is not permit or deny")
    return Effect(value)


def _actor(doc: object, path: str) -> Actor:
    actor = _map(doc, path)
    roles = _codes(actor.get("role"), f"{path}.role")
    source = bool(SOURCE_ROLES & set(roles))
    ref = _map(actor.get("reference"), f"{path}.reference")
    identifier = ref.get("identifier")
    if isinstance(identifier, Mapping):
        system, value = identifier.get("system"), identifier.get("value")
        if system == ORG_SYSTEM and isinstance(value, str):
            return Actor(value, None, source)
        if system == ROLE_SYSTEM and isinstance(value, str):
            return Actor(None, value, source)
    reference = ref.get("reference")
    if isinstance(reference, str):
        parts = reference.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == "Organization":
            return Actor(parts[-1], None, source)
    return Actor(None, None, source)


def _classes(codings: list[Any], path: str) -> tuple[frozenset[str] | None, set[str]]:
    """Resource-type classes (None when none is named) and the other classes as "system|code"."""
    types: set[str] = set()
    foreign: set[str] = set()
    for i, coding in enumerate(codings):
        system, code = _coding(coding, f"{path}[{i}]")
        if system in (None, RESOURCE_TYPES_SYSTEM):
            types.add(code)
        else:
            foreign.add(f"{system}|{code}")
    return (frozenset(types) if types else None), foreign


def _data(doc: object, path: str) -> str:
    data = _map(doc, path)
    meaning = _text(data.get("meaning"), f"{path}.meaning")
    ref = _text(
        _map(data.get("reference"), f"{path}.reference").get("reference"),
        f"{path}.reference.reference",
    )
    return f"{meaning}:{ref}"


def _period(doc: object, path: str) -> Period | None:
    if doc is None:
        return None
    period = _map(doc, path)
    start = period.get("start")
    end = period.get("end")
    low = None if start is None else lower_ms(start, f"{path}.start")
    high = None if end is None else upper_ms(end, f"{path}.end")
    if low is not None and high is not None and high <= low:
        raise FactsError(path, "end is before start")
    return Period(low, high)


def _codes(concept: object, path: str) -> list[str]:
    return [code for _, code in _system_codes(concept, path)]


def _system_codes(concept: object, path: str) -> list[tuple[str | None, str]]:
    if concept is None:
        return []
    codings = _map(concept, path).get("coding", [])
    if not isinstance(codings, list):
        raise FactsError(f"{path}.coding", "must be a list")
    return [_coding(c, f"{path}.coding[{i}]") for i, c in enumerate(codings)]


def _coding(doc: object, path: str) -> tuple[str | None, str]:
    coding = _map(doc, path)
    system = coding.get("system")
    if system is not None and not isinstance(system, str):
        raise FactsError(f"{path}.system", "must be a string")
    return system, _text(coding.get("code"), f"{path}.code")


def _list(doc: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise FactsError(f"{path}.{key}", "must be a list")
    return value


def _map(doc: object, path: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise FactsError(path, "must be an object")
    return doc


def _text(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise FactsError(path, "must be a non-empty string")
    return value
