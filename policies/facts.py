"""Facts a decision rests on: the policy, a patient's consents and grants, revocations, members.

A snapshot taken from ledger state at a known height (and, at the custodian, the full FHIR
Consents it holds). Built once and decided against many times: parsing, indexing and the digest
happen here, so that `decide` only looks up what concerns the requester. A malformed fact does not
raise: it lands in `errors`, and every decision over these facts denies (errors deny).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from policies.canonical import digest
from policies.consent import SHARING_SCOPES, ConsentRecord, parse_consent
from policies.document import ConsortiumPolicy
from policies.errors import EncodingError, FactsError
from policies.model import ConsentTerms, Grant
from policies.terms import grant_from_body, terms_from_body

T = TypeVar("T")
GranteeKeys = tuple[list[str], list[str], bool]  # organisations, roles, concerns anyone


@dataclass(frozen=True, slots=True)
class _ByGrantee:
    """Items indexed by the organisation or role they name; `anyone` names no one in particular."""

    by_org: Mapping[str, tuple[Any, ...]]
    by_role: Mapping[str, tuple[Any, ...]]
    anyone: tuple[Any, ...]

    def lookup(self, org: str, role: str) -> tuple[Any, ...]:
        return self.by_org.get(org, ()) + self.by_role.get(role, ()) + self.anyone


@dataclass(frozen=True, slots=True)
class Facts:
    """Use `build_facts`. `members` None: membership not checked (the gateway always passes it)."""

    policy: ConsortiumPolicy
    consents: tuple[ConsentRecord, ...]
    terms: tuple[ConsentTerms, ...]
    grants: tuple[Grant, ...]
    revoked: frozenset[str]
    members: frozenset[str] | None
    errors: tuple[str, ...]
    digest: str
    _consents: Mapping[str, _ByGrantee] = field(repr=False, compare=False)
    _terms: Mapping[str, _ByGrantee] = field(repr=False, compare=False)
    _grants: Mapping[tuple[str, str], tuple[Grant, ...]] = field(repr=False, compare=False)

    def consents_for(self, patient_ref: str, org: str, role: str) -> tuple[ConsentRecord, ...]:
        """FHIR Consents of the patient that may concern this requester (superset)."""
        index = self._consents.get(patient_ref)
        return () if index is None else index.lookup(org, role)

    def terms_for(self, patient_ref: str, org: str, role: str) -> tuple[ConsentTerms, ...]:
        index = self._terms.get(patient_ref)
        return () if index is None else index.lookup(org, role)

    def grants_for(self, grantor: str, grantee: str) -> tuple[Grant, ...]:
        return self._grants.get((grantor, grantee), ())


def build_facts(
    policy: ConsortiumPolicy,
    *,
    consents: Iterable[Mapping[str, Any]] = (),
    patient_ref: str | None = None,
    terms: Iterable[Mapping[str, Any]] = (),
    grants: Iterable[Mapping[str, Any]] = (),
    revoked: Iterable[str] = (),
    members: Iterable[str] | None = None,
) -> Facts:
    """Parse, index and digest facts. `consents` are FHIR R4 Consent dicts; `patient_ref`, when
    given, is the pseudonymous reference they are about (else each one's `patient.reference`).
    `terms` are `consent.grant` bodies, `grants` are `grant.issue` bodies. Terms whose consent id
    is also given as a full Consent are superseded by it (the full Consent is the more precise).
    """
    errors: list[str] = []
    raw_digests: dict[str, list[str]] = {"consents": [], "terms": [], "grants": []}
    records = _parse_all(
        consents, "consents", lambda c: parse_consent(c, patient_ref), errors, raw_digests
    )
    full_ids = {r.consent_id for r in records}
    all_terms = _parse_all(terms, "terms", terms_from_body, errors, raw_digests)
    flat = [t for t in all_terms if t.consent_id not in full_ids]
    grant_list = _parse_all(grants, "grants", grant_from_body, errors, raw_digests)
    revoked_set = frozenset(revoked)
    member_set = None if members is None else frozenset(members)
    summary = {
        "policy": policy.digest,
        "patient_ref": patient_ref,
        **{kind: sorted(found) for kind, found in raw_digests.items()},
        "revoked": sorted(revoked_set),
        "members": None if member_set is None else sorted(member_set),
        "errors": sorted(errors),
    }
    # Only live facts are indexed: within one snapshot an inactive, revoked or non-sharing
    # consent never applies, so the hot path need not look at it again.
    live_terms = [t for t in flat if t.status == "active" and t.consent_id not in revoked_set]
    live_grants = [g for g in grant_list if not g.revoked and g.grant_id not in revoked_set]
    return Facts(
        policy=policy,
        consents=tuple(records),
        terms=tuple(flat),
        grants=tuple(grant_list),
        revoked=revoked_set,
        members=member_set,
        errors=tuple(errors),
        digest=digest(summary),
        _consents=_index_consents([r for r in records if _live_consent(r, revoked_set)]),
        _terms=_index_terms(live_terms),
        _grants=_index_grants(live_grants),
    )


def _live_consent(record: ConsentRecord, revoked: frozenset[str]) -> bool:
    sharing = record.scope is None or record.scope in SHARING_SCOPES
    return record.status == "active" and record.consent_id not in revoked and sharing


def _parse_all(
    items: Iterable[Mapping[str, Any]],
    kind: str,
    parse: Callable[[Mapping[str, Any]], T],
    errors: list[str],
    digests: dict[str, list[str]],
) -> list[T]:
    """Parse each item; a malformed one is an error entry, not an exception."""
    parsed: list[T] = []
    for i, item in enumerate(items):
        try:
            digests[kind].append(digest(item))
            parsed.append(parse(item))
        except (FactsError, EncodingError) as exc:
            # Canonical-encoding paths start at "$"; fact paths are relative to the item.
            where = exc.path.removeprefix("$").removeprefix(".")
            errors.append(f"{kind}[{i}]{'.' if where else ''}{where}: {exc.problem}")
    return parsed


def _index_consents(records: list[ConsentRecord]) -> dict[str, _ByGrantee]:
    def keys(record: ConsentRecord) -> GranteeKeys:
        actors = record.root.recipients
        orgs = [a.org for a in actors if a.org is not None]
        roles = [a.role for a in actors if a.role is not None]
        # No recipient named at the root: the consent may concern anyone.
        return orgs, roles, not actors

    return _index(records, lambda r: r.patient_ref, keys)


def _index_terms(terms: list[ConsentTerms]) -> dict[str, _ByGrantee]:
    def keys(t: ConsentTerms) -> GranteeKeys:
        orgs = [] if t.grantee_org is None else [t.grantee_org]
        roles = [] if t.grantee_role is None else [t.grantee_role]
        return orgs, roles, not (orgs or roles)

    return _index(terms, lambda t: t.patient_ref, keys)


def _index(
    items: list[T], patient: Callable[[T], str], keys: Callable[[T], GranteeKeys]
) -> dict[str, _ByGrantee]:
    by_org: dict[str, dict[str, list[T]]] = defaultdict(lambda: defaultdict(list))
    by_role: dict[str, dict[str, list[T]]] = defaultdict(lambda: defaultdict(list))
    anyone: dict[str, list[T]] = defaultdict(list)
    patients: set[str] = set()
    for item in items:
        ref = patient(item)
        patients.add(ref)
        orgs, roles, for_anyone = keys(item)
        for org in dict.fromkeys(orgs):
            by_org[ref][org].append(item)
        for role in dict.fromkeys(roles):
            by_role[ref][role].append(item)
        if for_anyone:
            anyone[ref].append(item)
    return {
        ref: _ByGrantee(
            {k: tuple(v) for k, v in by_org[ref].items()},
            {k: tuple(v) for k, v in by_role[ref].items()},
            tuple(anyone[ref]),
        )
        for ref in patients
    }


def _index_grants(grants: list[Grant]) -> dict[tuple[str, str], tuple[Grant, ...]]:
    index: dict[tuple[str, str], list[Grant]] = defaultdict(list)
    for grant in grants:
        index[(grant.grantor, grant.grantee)].append(grant)
    return {key: tuple(found) for key, found in index.items()}
