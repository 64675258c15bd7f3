"""Which local Patient a pseudonymous patient_ref names: the custodian's side of the shared key.

A peer names a patient only by ``patient_ref`` (HMAC of an identifier under the consortium's
patient key): the identifier itself never travels. The custodian keeps the reverse map in memory,
built from its Patient resources on first use and kept current by the FHIR store's write hook.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import orjson

from gateway.fhir.search import SearchQuery
from gateway.identity.pseudonym import patient_ref
from gateway.store.fhir_store import FhirStore, StoredResource
from ledger.ids import PatientRef

PAGE = 100


def refs_of(patient_key: bytes, body: bytes) -> frozenset[PatientRef]:
    """The patient_refs of every (system, value) identifier of a stored Patient."""
    data = orjson.loads(body)
    found = set()
    for ident in data.get("identifier") or ():
        system, value = ident.get("system"), ident.get("value")
        if isinstance(system, str) and isinstance(value, str) and system and value:
            found.add(patient_ref(patient_key, system, value))
    return frozenset(found)


class PatientIndex:
    """patient_ref -> local Patient ids (several when duplicates share an identifier)."""

    def __init__(self, store: FhirStore, patient_key: bytes) -> None:
        self._store = store
        self._key = patient_key
        self._lock = threading.Lock()
        self._by_ref: dict[PatientRef, set[str]] | None = None
        self._refs_of_id: dict[str, frozenset[PatientRef]] = {}

    def local_ids(self, ref: str) -> tuple[str, ...]:
        with self._lock:
            index = self._loaded()
            return tuple(sorted(index.get(PatientRef(ref), ())))

    def refs_of_patient(self, local_id: str) -> frozenset[PatientRef]:
        """The refs of a local Patient (empty when unknown or without identifiers)."""
        with self._lock:
            self._loaded()
            return self._refs_of_id.get(local_id, frozenset())

    def on_write(self, stored: StoredResource, _: StoredResource | None) -> None:
        """The FHIR store's write hook: re-index a written Patient."""
        if stored.type != "Patient":
            return
        refs = refs_of(self._key, stored.body)
        with self._lock:
            if self._by_ref is not None:
                self._put(self._by_ref, stored.id, refs)

    def _loaded(self) -> dict[PatientRef, set[str]]:
        if self._by_ref is None:
            index: dict[PatientRef, set[str]] = defaultdict(set)
            offset = 0
            while True:  # bounded by the number of stored Patients
                page = self._store.search(SearchQuery("Patient", count=PAGE, offset=offset))
                for row in page.rows:
                    self._put(index, row.id, refs_of(self._key, row.body))
                offset += PAGE
                if offset >= page.total or not page.rows:
                    break
            self._by_ref = index
        return self._by_ref

    def _put(
        self, index: dict[PatientRef, set[str]], local_id: str, refs: frozenset[PatientRef]
    ) -> None:
        for old in self._refs_of_id.get(local_id, frozenset()) - refs:
            index.get(old, set()).discard(local_id)
        for ref in refs:
            index.setdefault(ref, set()).add(local_id)
        self._refs_of_id[local_id] = refs
