"""`medgate audit replay`: re-decide a recorded access from ledger state as it was just before it.

State is re-derived from genesis with the same BlockBuilder that committed the log (as `ledger
verify` does), stopping before the record's log index; the Facts are built from that state the way
the custodian builds them (gateway.services.facts), then `policies.replay` decides again at the
record's `ts` and compares decision digests.

Limit, said in every report: the custodian's full FHIR Consents never leave it, so the replay uses
the consent terms on the ledger. When the custodian decided with a full Consent of that patient,
its digest is part of the facts and the replay cannot reproduce it from the ledger alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.errors import BadRequestError, NotFoundError, UnavailableError
from gateway.services.facts import grant_body, terms_body
from ledger.blockbuild import BlockBuilder, genesis_block
from ledger.blocks import BlockHeader
from ledger.entries import EntryType, decode_entry
from ledger.errors import EntryError
from ledger.ids import Digest, TxId
from ledger.keyresolver import StateKeyResolver
from ledger.merkle import CompactTree, leaf_hash
from ledger.state import active_members, consents_for_patient, grants_for, policy
from ledger.statekv import MemoryState, StateReader
from ledger.storage.base import StoredEntry
from policies import ConsortiumPolicy, Facts, RecordError, build_facts, replay

LEDGER_TERMS_NOTE = (
    "replayed from the consent terms on the ledger: the custodian's full FHIR Consents stay with "
    "the custodian, so a decision that rested on one cannot be reproduced from the ledger alone"
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

    def to_json(self) -> dict[str, Any]:
        return {
            "tx_id": self.tx_id,
            "index": self.index,
            "validation_code": self.code,
            "confirmed": self.confirmed,
            "recorded_digest": self.recorded_digest,
            "recomputed_digest": self.recomputed_digest,
            "mismatches": list(self.mismatches),
            "note": LEDGER_TERMS_NOTE,
        }


def state_before(store: ReplayStore, index: int) -> MemoryState:
    """Ledger state after every entry before log ``index`` (re-validated from genesis).
    Requires ``index >= 1`` and the store to hold entries up to ``index``."""
    state = MemoryState()
    builder: BlockBuilder | None = None
    for header, _, _ in store.iter_blocks():
        if header.first_index >= index:
            break
        stored = store.entries(header.first_index, min(header.count, index - header.first_index))
        keys = StateKeyResolver(state)
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


def ledger_facts(state: StateReader, document: ConsortiumPolicy, record: dict[str, Any]) -> Facts:
    """The Facts of gateway.services.facts.FactsSource, without the custodian's local Consents."""
    in_force = policy(state)
    if in_force is None or in_force.digest != document.digest:
        raise UnavailableError("the policy in force then is not the document this gateway holds")
    patient, requester = str(record["patient_ref"]), str(record["requester"])
    recorded = consents_for_patient(state, patient)
    return build_facts(
        document,
        consents=(),
        patient_ref=patient,
        terms=[terms_body(c) for c in recorded],
        grants=[grant_body(g) for g in grants_for(state, requester)],
        revoked=[c.consent_id for c in recorded if c.status != "active"],
        members=[m.org for m in active_members(state)],
    )


def access_record_of(entry: StoredEntry) -> dict[str, Any]:
    """The entry's access.record body with the transaction's ``ts`` (the decision's clock)."""
    try:
        signed = decode_entry(entry.leaf)
    except EntryError as exc:
        raise BadRequestError("the entry is not a decodable ledger entry") from exc
    if signed.type != EntryType.ACCESS_RECORD:
        raise BadRequestError(f"the entry is a {signed.type}, not an access.record")
    return {**signed.tx["body"], "ts": signed.tx["ts"]}


def replay_tx(store: ReplayStore, tx_id: TxId, document: ConsortiumPolicy) -> ReplayReport:
    """Confirm or refute the recorded decision of access.record ``tx_id``. Raises NotFoundError,
    BadRequestError (not an access.record, or one replay cannot read), UnavailableError."""
    entry = store.entry_by_tx(tx_id)
    if entry is None:
        raise NotFoundError("no ledger entry with this tx_id")
    record = access_record_of(entry)
    facts = ledger_facts(state_before(store, entry.index), document, record)
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
    )
