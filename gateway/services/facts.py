"""The custodian's policy Facts for one request: ledger state at its head plus its own Consents.

From the ledger: the policy in force (its digest must be the document this gateway holds), the
active members, every consent recorded for the patient (terms; revoked ids), the grants issued to
the requester. From the custodian's FHIR store: its full Consent resources for the patient (the
whole provision tree, which supersedes the flattened terms of the same id). Facts are cached per
(patient, requester) until a block changes consents, grants, members or policy, or a local
Consent is written.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import UnavailableError
from gateway.fhir.search import SearchQuery
from gateway.services.patients import PatientIndex
from gateway.store.fhir_store import FhirStore, StoredResource
from ledger.state import Consent, Grant, active_members, consents_for_patient, grants_for, policy
from ledger.state import namespaces as ns
from ledger.statekv import StateReader
from ledger.storage.base import BlockWrite
from policies import ConsortiumPolicy, Facts, build_facts

ANY_TYPE = "*"
MAX_CACHED = 4096
MAX_LOCAL_CONSENTS = 100
FACT_NAMESPACES = frozenset(
    {
        ns.MEMBERS,
        ns.KEYS,
        ns.POLICY,
        ns.CONSENTS,
        ns.CONSENTS_BY_PATIENT,
        ns.GRANTS,
        ns.GRANTS_BY_GRANTEE,
    }
)


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


class FactsSource:
    """Builds and caches Facts. Reads are synchronous (SQL): call it from a worker thread."""

    def __init__(
        self,
        state: StateReader,
        fhir: FhirStore,
        patients: PatientIndex,
        document: ConsortiumPolicy,
    ) -> None:
        self._state = state
        self._fhir = fhir
        self._patients = patients
        self._policy = document
        self._cache: dict[tuple[str, str], Facts] = {}
        self._recorded: dict[tuple[str, str], frozenset[str]] = {}
        self._lock = threading.Lock()
        self._generation = 0

    def facts(self, patient_ref: str, requester: str) -> Facts:
        """Raises UnavailableError when the policy in force is not the one this gateway holds."""
        key = (patient_ref, requester)
        found = self._cache.get(key)
        if found is None:
            generation = self._generation
            found = self._build(patient_ref, requester)
            with self._lock:
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
                    self._recorded.clear()
                # Facts built across an invalidation may be stale: use them once, never cache them.
                if generation == self._generation:
                    self._cache[key] = found
                    self._recorded[key] = self._recorded_now(patient_ref, requester)
        return found

    def recorded_ids(self, patient_ref: str, requester: str) -> frozenset[str]:
        """Ids of the consents and grants of these facts that are on the ledger (what an
        access.record may name as its basis). Requires ``facts`` called for the same pair."""
        found = self._recorded.get((patient_ref, requester))
        if found is None:
            found = self._recorded_now(patient_ref, requester)
        return found

    def local_consents(self, patient_ref: str) -> list[Mapping[str, Any]]:
        """The custodian's own FHIR Consents about the patient (every status)."""
        out: list[Mapping[str, Any]] = []
        for local_id in self._patients.local_ids(patient_ref):
            query = SearchQuery("Consent", patient=local_id, count=MAX_LOCAL_CONSENTS)
            out.extend(orjson.loads(row.body) for row in self._fhir.search(query).rows)
        return out

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._cache.clear()
            self._recorded.clear()

    async def on_block(self, block: BlockWrite) -> None:
        if any(change.ns in FACT_NAMESPACES for change in block.changes):
            self.invalidate()

    def on_write(self, stored: StoredResource, _: StoredResource | None) -> None:
        if stored.type in ("Consent", "Patient"):
            self.invalidate()

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
        recorded = consents_for_patient(self._state, patient_ref)
        return build_facts(
            self._policy,
            consents=self.local_consents(patient_ref),
            patient_ref=patient_ref,
            terms=[terms_body(c) for c in recorded],
            grants=[grant_body(g) for g in grants_for(self._state, requester)],
            revoked=[c.consent_id for c in recorded if c.status != "active"],
            members=[m.org for m in active_members(self._state)],
        )
