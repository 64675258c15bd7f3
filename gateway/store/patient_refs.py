"""The patient index table: which local Patient ids a pseudonymous patient_ref names.

Rows are written in the transaction of the Patient write itself (FhirStore.add_in_transaction), so
every replica of the member reads the same index and a Patient is never stored without it.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gateway.store.transactions import transaction

METADATA = sa.MetaData()

PATIENT_REFS = sa.Table(
    "patient_ref_index",
    METADATA,
    sa.Column("ref", sa.String(64), primary_key=True),
    sa.Column("patient_id", sa.String(64), primary_key=True),
    sa.Index("ix_patient_ref_index_patient", "patient_id"),
)


class PatientRefTable:
    """The table on ``engine`` (created if absent). Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with self._tx() as conn:
            METADATA.create_all(conn)

    @staticmethod
    def replace(conn: Connection, patient_id: str, refs: Iterable[str]) -> None:
        """Set the refs of ``patient_id`` inside the caller's transaction ``conn``."""
        conn.execute(PATIENT_REFS.delete().where(PATIENT_REFS.c.patient_id == patient_id))
        rows = [{"ref": ref, "patient_id": patient_id} for ref in sorted(set(refs))]
        if rows:
            conn.execute(PATIENT_REFS.insert(), rows)

    def local_ids(self, ref: str) -> tuple[str, ...]:
        query = sa.select(PATIENT_REFS.c.patient_id).where(PATIENT_REFS.c.ref == ref)
        return tuple(sorted(str(r.patient_id) for r in self._all(query)))

    def refs_of(self, patient_id: str) -> frozenset[str]:
        query = sa.select(PATIENT_REFS.c.ref).where(PATIENT_REFS.c.patient_id == patient_id)
        return frozenset(str(r.ref) for r in self._all(query))

    def is_empty(self) -> bool:
        return not self._all(sa.select(PATIENT_REFS.c.ref).limit(1))

    def _all(self, query: sa.Select[tuple[str]]) -> list[sa.Row[tuple[str]]]:
        with self._tx() as conn:
            return list(conn.execute(query).all())

    def _tx(self) -> AbstractContextManager[Connection]:
        return transaction(self.engine, "the patient index")
