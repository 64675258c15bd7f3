"""`medgate audit replay`: re-decide a recorded access from ledger state as it was just before it.

State is re-derived from genesis with the same BlockBuilder that committed the log (as `ledger
verify` does), stopping before the record's log index; the Facts are built from that state and the
custodian's evidence archive with the recipe the custodian decides with
(gateway.services.facts.snapshot_facts), then `policies.replay` decides again at the record's `ts`
and compares decision digests.

The full FHIR Consents never leave the custodian. At the custodian (its archive given), the
documents pinned by the active `consent.grant`s are loaded by digest, and its local Consents the
ledger could not carry (opt-outs) by their archiving time; the report names both. Elsewhere the
report lists the documents it lacks and an unconfirmed result is ``incomplete``, never a refutation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.errors import BadRequestError, NotFoundError, UnavailableError
from gateway.services.facts import EvidenceFacts, ledger_evidence, snapshot_facts
from gateway.store.evidence import EvidenceArchive, latest_by_consent
from ledger.blockbuild import BlockBuilder, genesis_block
from ledger.blocks import BlockHeader
from ledger.entries import EntryType, decode_entry
from ledger.errors import EntryError
from ledger.ids import Digest, TxId
from ledger.merkle import CompactTree, leaf_hash
from ledger.state import consents_for_patient, key_resolver, policy
from ledger.statekv import MemoryState, StateReader
from ledger.storage.base import StoredEntry
from policies import ConsortiumPolicy, RecordError, replay

LOCAL_NOTE = (
    "decided with custodian-local Consents the ledger does not carry (listed in local_documents): "
    "replayed from the custodian's evidence archive, which only the custodian holds"
)
MISSING_NOTE = (
    "incomplete: the custodian's full Consents pinned on the ledger (missing_documents) are not "
    "in this gateway's evidence archive; replay at the custodian to confirm or refute"
)
ARCHIVE_GAP_NOTE = (
    "the custodian's archive lacks documents pinned on the ledger (missing_documents): the "
    "custodian decided on their ledger terms, and so does this replay"
)
ELSEWHERE_NOTE = (
    "replayed without the custodian's archive: a decision that also rested on custodian-local "
    "Consents not on the ledger can only be replayed at the custodian"
)


class ReplayStore(Protocol):
    """What replay reads of a store (ledger.storage.sql.SqlStore satisfies it)."""

    def iter_blocks(self) -> Iterator[tuple[BlockHeader, Digest, int]]: ...

    def entries(self, first: int, count: int) -> list[StoredEntry]: ...

    def entry_by_tx(self, tx_id: TxId) -> StoredEntry | None: ...


@dataclass(frozen=True, slots=True)
class ReplayReport:
    tx_id: str
    index: int
    code: int
    confirmed: bool
    recorded_digest: str
    recomputed_digest: str
    mismatches: tuple[str, ...]
    evidence: EvidenceFacts
    archive_used: bool

    @property
    def status(self) -> str:
        """confirmed, refuted (at the custodian), or incomplete (not confirmed elsewhere).

        Elsewhere a mismatch cannot tell a false record from a decision that used the
        custodian's documents (pinned ones listed in missing_documents, or local opt-outs
        nobody else can know of), so it is never called a refutation. At the custodian a
        document absent from its own archive was absent when it decided too."""
        if self.confirmed:
            return "confirmed"
        return "refuted" if self.archive_used else "incomplete"

    def to_json(self) -> dict[str, Any]:
        return {
            "tx_id": self.tx_id,
            "index": self.index,
            "validation_code": self.code,
            "status": self.status,
            "confirmed": self.confirmed,
            "recorded_digest": self.recorded_digest,
            "recomputed_digest": self.recomputed_digest,
            "mismatches": list(self.mismatches),
            "archive_used": self.archive_used,
            "ledger_documents": [e.digest for e in self.evidence.ledger],
            "local_documents": [e.digest for e in self.evidence.local],
            "missing_documents": [
                {"consent_id": c.consent_id, "consent_digest": c.consent_digest}
                for c in self.evidence.missing
            ],
            "notes": self.notes(),
        }

    def notes(self) -> list[str]:
        notes = [] if self.archive_used else [ELSEWHERE_NOTE]
        if self.evidence.local:
            notes.append(LOCAL_NOTE)
        if self.evidence.missing:
            notes.append(ARCHIVE_GAP_NOTE if self.archive_used else MISSING_NOTE)
        return notes


def state_before(store: ReplayStore, index: int) -> MemoryState:
    """Ledger state after every entry before log ``index`` (re-validated from genesis).
    Requires ``index >= 1`` and the store to hold entries up to ``index``."""
    state = MemoryState()
    builder: BlockBuilder | None = None
    for header, _, _ in store.iter_blocks():
        if header.first_index >= index:
            break
        stored = store.entries(header.first_index, min(header.count, index - header.first_index))
        keys = key_resolver(state)
        if builder is None:
            write = genesis_block(stored[0].leaf, keys)
            frontier = CompactTree()
            frontier.append(leaf_hash(stored[0].leaf))
            builder = BlockBuilder(write.header, frontier, state, keys)
        else:
            builder.keys = keys
            builder.max_entries = len(stored) + 1
            for entry in stored:
                builder.feed(0, entry.leaf)
            cut = builder.cut()
            if cut is None:
                break
            builder.committed(cut)
            write = cut
        state.apply(list(write.changes))
    return state


def replay_evidence(
    state: StateReader, record: dict[str, Any], archive: EvidenceArchive | None
) -> EvidenceFacts:
    """The full Consents the custodian decided with, as far as ``archive`` (the custodian's own,
    or None elsewhere) holds them. Mirrors gateway.services.facts.FactsSource.evidence."""
    patient, custodian = str(record["patient_ref"]), str(record["custodian"])
    recorded = consents_for_patient(state, patient)
    if archive is None:
        active = tuple(c for c in recorded if c.status == "active" and c.custodian == custodian)
        return EvidenceFacts((), (), active)
    found = ledger_evidence(recorded, archive)
    known = {c.consent_id for c in recorded}
    # Local Consents the ledger did not carry: the last version archived by the decision's time.
    versions = archive.for_patient(patient, until_ms=int(record["ts"]))
    local = [e for cid, e in latest_by_consent(versions).items() if cid not in known]
    own_missing = tuple(c for c in found.missing if c.custodian == custodian)
    return EvidenceFacts(found.ledger, tuple(local), own_missing)


def access_record_of(entry: StoredEntry) -> dict[str, Any]:
    """The entry's access.record body with the transaction's ``ts`` (the decision's clock)."""
    try:
        signed = decode_entry(entry.leaf)
    except EntryError as exc:
        raise BadRequestError("the entry is not a decodable ledger entry") from exc
    if signed.type != EntryType.ACCESS_RECORD:
        raise BadRequestError(f"the entry is a {signed.type}, not an access.record")
    return {**signed.tx["body"], "ts": signed.tx["ts"]}


def replay_tx(
    store: ReplayStore,
    tx_id: TxId,
    document: ConsortiumPolicy,
    archive: EvidenceArchive | None = None,
) -> ReplayReport:
    """Confirm or refute the recorded decision of access.record ``tx_id``; ``archive`` is the
    custodian's evidence archive (None when replaying elsewhere). Raises NotFoundError,
    BadRequestError (not an access.record, or one replay cannot read), UnavailableError."""
    entry = store.entry_by_tx(tx_id)
    if entry is None:
        raise NotFoundError("no ledger entry with this tx_id")
    record = access_record_of(entry)
    state = state_before(store, entry.index)
    in_force = policy(state)
    if in_force is None or in_force.digest != document.digest:
        raise UnavailableError("the policy in force then is not the document this gateway holds")
    evidence = replay_evidence(state, record, archive)
    patient, requester = str(record["patient_ref"]), str(record["requester"])
    facts = snapshot_facts(state, document, patient, requester, evidence.documents)
    try:
        result = replay(record, facts)
    except RecordError as exc:
        raise BadRequestError(f"the record cannot be replayed: {exc}") from exc
    return ReplayReport(
        tx_id,
        entry.index,
        entry.code,
        result.confirmed,
        result.recorded_digest,
        result.recomputed_digest,
        result.mismatches,
        evidence,
        archive is not None,
    )
