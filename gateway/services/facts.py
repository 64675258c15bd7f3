"""The custodian's policy Facts for one request, built only from what `audit replay` can rebuild.

From the ledger: the policy in force (its digest must be the document this gateway holds), the
active members, every consent recorded for the patient (terms; revoked ids), the grants issued to
the requester. For each ACTIVE recorded consent, the full FHIR Consent whose SHA-256 the
`consent.grant` pinned, read from the custodian's evidence archive (gateway.store.evidence), never
the current FHIR resource: after an edit the current one is not what the ledger vouches for.
Consents the ledger could not carry (an opt-out, no grantee) are enforced from the current FHIR
resource and archived too, so the custodian itself can replay them; such decisions are flagged by
replay as resting on custodian-local evidence. Facts are cached per (patient, requester) at state
versions every replica reads alike (gateway.services.versions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from gateway.errors import UnavailableError
from gateway.fhir.search import SearchQuery
from gateway.services.patients import PatientIndex
from gateway.services.versions import KeyedCache, Snapshot, Versions
from gateway.store.evidence import Evidence, EvidenceArchive, evidence_digest
from gateway.store.fhir_store import FhirStore, StoredResource
from ledger.state import Consent, Grant, active_members, consents_for_patient, grants_for, policy
from ledger.statekv import StateReader
from policies import ConsortiumPolicy, Facts, build_facts

ANY_TYPE = "*"
MAX_CACHED = 4096
MAX_LOCAL_CONSENTS = 100


def terms_body(consent: Consent) -> dict[str, Any]:
    """A ledger consent as the body `policies.terms_from_body` reads (``*`` = any type)."""
    grantee = (
        {"org": consent.grantee_org} if consent.grantee_org else {"role": consent.grantee_role}
    )
    types = [] if ANY_TYPE in consent.resource_types else list(consent.resource_types)
    return {
        "consent_id": consent.consent_id,
        "patient_ref": consent.patient_ref,
        "grantee": grantee,
        "purposes": list(consent.purposes),
        "resource_types": types,
        "period": {"start": consent.period_start, "end": consent.period_end},
        "status": "active" if consent.status == "active" else "inactive",
        "consent_digest": consent.consent_digest,
    }


def grant_body(grant: Grant) -> dict[str, Any]:
    return {
        "grant_id": grant.grant_id,
        "grantor": grant.grantor,
        "grantee": grant.grantee,
        "resource_types": list(grant.resource_types),
        "purposes": list(grant.purposes),
        "expires": grant.expires,
        "revoked": grant.status != "active",
    }


@dataclass(frozen=True, slots=True)
class EvidenceFacts:
    """The full Consents a decision uses: archived documents of active ledger consents, and the
    custodian's local Consents the ledger does not carry. ``missing`` are active ledger consents
    whose pinned document is not in the archive (decided on their ledger terms alone)."""

    ledger: tuple[Evidence, ...]
    local: tuple[Evidence, ...]
    missing: tuple[Consent, ...]

    @property
    def documents(self) -> list[Mapping[str, Any]]:
        """The documents as the decision point reads them: each under its ledger id (the id its
        terms, revocations and a decision's basis use), never the custodian's local id."""
        return [
            {**orjson.loads(found.body), "id": found.consent_id}
            for found in (*self.ledger, *self.local)
        ]

    def with_local(self, local: list[Evidence]) -> EvidenceFacts:
        return EvidenceFacts(self.ledger, tuple(local), self.missing)


def ledger_evidence(recorded: list[Consent], archive: EvidenceArchive) -> EvidenceFacts:
    """The archived documents pinned by the ACTIVE consents of ``recorded``: a revoked consent
    never applies, so its document is left out on both sides (decision and replay) alike."""
    active = [c for c in recorded if c.status == "active"]
    found = archive.get_many(c.consent_digest for c in active)
    kept = tuple(
        replace(found[c.consent_digest], consent_id=c.consent_id)
        for c in active
        if c.consent_digest in found
    )
    missing = tuple(c for c in active if c.consent_digest not in found)
    return EvidenceFacts(kept, (), missing)


def snapshot_facts(
    state: StateReader,
    document: ConsortiumPolicy,
    patient_ref: str,
    requester: str,
    consents: list[Mapping[str, Any]],
) -> Facts:
    """Facts from ledger ``state`` plus the full ``consents``: the one recipe the custodian
    decides with and replay re-decides with. Requires the policy in force to be ``document``."""
    recorded = consents_for_patient(state, patient_ref)
    return build_facts(
        document,
        consents=consents,
        patient_ref=patient_ref,
        terms=[terms_body(c) for c in recorded],
        grants=[grant_body(g) for g in grants_for(state, requester)],
        revoked=[c.consent_id for c in recorded if c.status != "active"],
        members=[m.org for m in active_members(state)],
    )


class FactsSource:
    """Builds and caches Facts. Reads are synchronous (SQL): call it from a worker thread.

    Cached per (patient, requester) at the versions of gateway.services.versions: the ledger's
    facts generation and the FHIR store's write counter, both read from the database every
    replica shares, so a Consent written or revoked through another replica ends the entry."""

    def __init__(
        self,
        state: StateReader,
        fhir: FhirStore,
        patients: PatientIndex,
        document: ConsortiumPolicy,
        clock_ms: Callable[[], int],
        consent_ledger_id: Callable[[str], str],
        versions: Versions,
        archive: EvidenceArchive | None = None,
    ) -> None:
        self._state = state
        self._ledger_id = consent_ledger_id
        self._clock = clock_ms  # the decision's clock: replay reads archiving times against it
        self._fhir = fhir
        self._patients = patients
        self._policy = document
        self._versions = versions
        # Same database as the FHIR store unless given: the archive is the custodian's own.
        self.archive = archive if archive is not None else EvidenceArchive(fhir.engine)
        self._cache: KeyedCache[tuple[str, str], tuple[Facts, frozenset[str]]] = KeyedCache(
            MAX_CACHED
        )

    def facts(self, patient_ref: str, requester: str) -> Facts:
        """Raises UnavailableError when the policy in force is not the one this gateway holds."""
        key = (patient_ref, requester)
        version = _key(self._versions.read())
        found = self._cache.get(version, key)
        if found is None:
            # Built after reading the version: a change after the read makes it the next one.
            found = (
                self._build(patient_ref, requester),
                self._recorded_now(patient_ref, requester),
            )
            self._cache.put(version, key, found)
        return found[0]

    def cached(self, patient_ref: str, requester: str) -> Facts | None:
        """The Facts of the pair cached at the versions the request read last (``Versions.last``;
        refreshed at the start of every exchange request), or None: safe on the event loop."""
        found = self._cache.get(_key(self._versions.last), (patient_ref, requester))
        return None if found is None else found[0]

    def recorded_ids(self, patient_ref: str, requester: str) -> frozenset[str]:
        """Ids of the consents and grants of these facts that are on the ledger (what an
        access.record may name as its basis). Requires ``facts`` called for the same pair."""
        found = self._cache.get(_key(self._versions.last), (patient_ref, requester))
        return self._recorded_now(patient_ref, requester) if found is None else found[1]

    def local_consents(self, patient_ref: str) -> list[StoredResource]:
        """The custodian's own FHIR Consents about the patient (every status, current versions)."""
        out: list[StoredResource] = []
        for local_id in self._patients.local_ids(patient_ref):
            query = SearchQuery("Consent", patient=local_id, count=MAX_LOCAL_CONSENTS)
            out.extend(self._fhir.search(query).rows)
        return out

    def evidence(self, patient_ref: str) -> EvidenceFacts:
        """The full Consents these facts decide with, and where each comes from."""
        recorded = consents_for_patient(self._state, patient_ref)
        on_ledger = ledger_evidence(recorded, self.archive)
        known = {c.consent_id for c in recorded}
        local = [
            (self._ledger_id(row.id), row)
            for row in self.local_consents(patient_ref)
            if self._ledger_id(row.id) not in known
        ]
        # Archive what we are about to decide with (idempotent; the first archiving stands), so
        # replay at the custodian finds it archived no later than the decision's time.
        archived = {e.digest for e in self.archive.for_patient(patient_ref)}
        for lid, row in local:
            if evidence_digest(row.body) not in archived:
                self.archive.put(row.body, lid, patient_ref, self._clock())
        kept = [Evidence(evidence_digest(r.body), lid, patient_ref, 0, r.body) for lid, r in local]
        return on_ledger.with_local(kept)

    def _recorded_now(self, patient_ref: str, requester: str) -> frozenset[str]:
        consents = {c.consent_id for c in consents_for_patient(self._state, patient_ref)}
        return frozenset(consents | {g.grant_id for g in grants_for(self._state, requester)})

    def _build(self, patient_ref: str, requester: str) -> Facts:
        in_force = policy(self._state)
        if in_force is None or in_force.digest != self._policy.digest:
            # Default deny: deciding under another policy than the consortium's is no decision.
            raise UnavailableError(
                "the consortium policy in force is not the one this gateway holds"
            )
        found = self.evidence(patient_ref)
        return snapshot_facts(self._state, self._policy, patient_ref, requester, found.documents)


def _key(snapshot: Snapshot) -> tuple[int, int]:
    return (snapshot.facts, snapshot.store)
