"""The custodian's consent evidence archive: every Consent version it stored, immutable, by digest.

`consent.grant` pins the SHA-256 of the stored Consent bytes (``consent_digest``); the FHIR store
keeps only the current version, so after a revoke or an edit the version a decision rested on would
be gone. This append-only table keeps each version's exact bytes under that digest, with the
pseudonymous patient it is about and when it was archived, so `medgate audit replay` at the
custodian can rebuild the facts of any past decision. SQLite or PostgreSQL, in the gateway's store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from gateway.store.transactions import transaction

METADATA = sa.MetaData()

EVIDENCE = sa.Table(
    "consent_evidence",
    METADATA,
    sa.Column("digest", sa.String(64), primary_key=True),
    # A patient known under several identifiers has several refs: one row per (digest, ref).
    # "" = the patient could not be named (such a version is never replayed as local evidence).
    sa.Column("patient_ref", sa.String(64), primary_key=True),
    sa.Column("consent_id", sa.String(64), nullable=False),
    sa.Column("archived_ms", sa.BigInteger, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Index("ix_consent_evidence_patient", "patient_ref", "archived_ms"),
)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One archived Consent version: ``body`` is the exact stored bytes, ``digest`` their SHA-256,
    ``consent_id`` the opaque id the ledger knows the Consent by (gateway.identity.pseudonym
    .ledger_id; the local id is the body's own ``id``)."""

    digest: str
    consent_id: str
    patient_ref: str | None
    archived_ms: int
    body: bytes


def evidence_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class EvidenceArchive:
    """The append-only archive table on ``engine`` (created if absent). Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with self._tx() as conn:
            METADATA.create_all(conn)

    @classmethod
    def from_url(cls, url: str) -> EvidenceArchive:
        return cls(sa.create_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    def put(self, body: bytes, consent_id: str, patient_ref: str | None, at_ms: int) -> str:
        """Archive ``body`` about ``patient_ref`` (idempotent: the first archiving of the same bytes
        for the same patient stands, so its time never moves later). Returns its digest."""
        digest = evidence_digest(body)
        row = {
            "digest": digest,
            "consent_id": consent_id,
            "patient_ref": patient_ref or "",
            "archived_ms": at_ms,
            "body": body,
        }
        try:
            with self._tx() as conn:
                conn.execute(EVIDENCE.insert().values(**row))
        except IntegrityError:
            pass  # already archived: evidence is immutable
        return digest

    def get_many(self, digests: Iterable[str]) -> dict[str, Evidence]:
        """The archived versions among ``digests`` (absent ones are simply not in the result)."""
        wanted = sorted(set(digests))
        if not wanted:
            return {}
        query = sa.select(EVIDENCE).where(EVIDENCE.c.digest.in_(wanted))
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return {row.digest: _evidence(row) for row in rows}

    def for_patient(self, patient_ref: str, until_ms: int | None = None) -> list[Evidence]:
        """Every version archived for the patient (up to ``until_ms`` inclusive), oldest first."""
        query = sa.select(EVIDENCE).where(EVIDENCE.c.patient_ref == patient_ref)
        if until_ms is not None:
            query = query.where(EVIDENCE.c.archived_ms <= until_ms)
        query = query.order_by(EVIDENCE.c.archived_ms, EVIDENCE.c.digest)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [_evidence(row) for row in rows]

    def _tx(self) -> AbstractContextManager[Connection]:
        return transaction(self.engine, "the consent evidence archive")


def latest_by_consent(versions: Iterable[Evidence]) -> dict[str, Evidence]:
    """The last archived version of each consent id (``versions`` oldest first)."""
    latest: dict[str, Evidence] = {}
    for version in versions:
        latest[version.consent_id] = version
    return latest


def _evidence(row: sa.Row[tuple[object, ...]]) -> Evidence:
    return Evidence(
        str(row.digest),
        str(row.consent_id),
        str(row.patient_ref) or None,
        int(str(row.archived_ms)),
        bytes(row.body),
    )
