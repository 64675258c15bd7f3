"""Which local Patient a pseudonymous patient_ref names: the custodian's side of the shared key.

A peer names a patient only by ``patient_ref`` (HMAC of an identifier under the consortium's
patient key): the identifier itself never travels. The custodian keeps the reverse map in a table
of its own database (gateway.store.patient_refs), written in the transaction of each Patient write,
so every replica of the member reads the same map and none holds a private copy to go stale.
"""

from __future__ import annotations

import contextlib

import orjson
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gateway.fhir.search import SearchQuery
from gateway.identity.pseudonym import patient_ref
from gateway.store.fhir_store import FhirStore, StoredResource
from gateway.store.patient_refs import PatientRefTable
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
    """patient_ref -> local Patient ids (several when duplicates share an identifier).

    Hooks itself into ``store``'s write transactions; an index found empty beside stored
    Patients (a store written before the index existed) is filled once, at construction."""

    def __init__(self, store: FhirStore, patient_key: bytes) -> None:
        self._store = store
        self._key = patient_key
        self._table = PatientRefTable(store.engine)
        store.add_in_transaction(self._index)
        if self._table.is_empty():
            self._backfill()

    def local_ids(self, ref: str) -> tuple[str, ...]:
        return self._table.local_ids(ref)

    def refs_of_patient(self, local_id: str) -> frozenset[PatientRef]:
        """The refs of a local Patient (empty when unknown or without identifiers)."""
        return frozenset(PatientRef(r) for r in self._table.refs_of(local_id))

    def _index(self, conn: Connection, stored: StoredResource) -> None:
        if stored.type == "Patient":
            PatientRefTable.replace(conn, stored.id, refs_of(self._key, stored.body))

    def _backfill(self) -> None:
        # Another replica filling it at the same time writes the same rows: either one stands.
        with contextlib.suppress(IntegrityError):
            self._fill()

    def _fill(self) -> None:
        offset = 0
        with self._store.engine.begin() as conn:
            while True:  # bounded by the number of stored Patients
                page = self._store.search(SearchQuery("Patient", count=PAGE, offset=offset))
                for row in page.rows:
                    PatientRefTable.replace(conn, row.id, refs_of(self._key, row.body))
                offset += PAGE
                if offset >= page.total or not page.rows:
                    break
