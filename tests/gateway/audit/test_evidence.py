"""The consent evidence archive (gateway.store.evidence) and replay from it: a decision made with
an archived full Consent is confirmed with the archive, incomplete without it, and a revoked
consent's document is left out on both sides."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from gateway.services.access_record import access_body
from gateway.services.facts import snapshot_facts
from gateway.services.replay import replay_tx
from gateway.store.evidence import EvidenceArchive, evidence_digest, latest_by_consent
from ledger.ids import TxId
from policies import Effect, decide, default_policy
from tests.e2e import records
from tests.gateway.audit.test_replay import REF, Node, T, claims_request, node

__all__ = ["node"]  # the ledger node fixture, shared with test_replay


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[EvidenceArchive]:
    found = EvidenceArchive.from_url(f"sqlite:///{tmp_path / 'evidence.db'}")
    yield found
    found.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EvidenceArchive]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'any.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    found = EvidenceArchive.from_url(url)
    yield found
    found.close()


def test_the_first_archiving_stands_and_reads_filter_by_digest_patient_and_time(
    any_archive: EvidenceArchive,
) -> None:
    archive = any_archive
    first = archive.put(b'{"v":1}', "c-1", REF, 10)
    assert archive.put(b'{"v":1}', "c-1", REF, 99) == first == evidence_digest(b'{"v":1}')
    second = archive.put(b'{"v":2}', "c-1", REF, 20)
    archive.put(b'{"other":1}', "c-2", "q" * 43, 5)
    found = archive.get_many([first, "0" * 64])
    assert list(found) == [first]
    assert found[first].archived_ms == 10
    assert [e.digest for e in archive.for_patient(REF)] == [first, second]
    assert [e.digest for e in archive.for_patient(REF, until_ms=15)] == [first]
    assert latest_by_consent(archive.for_patient(REF))["c-1"].digest == second
    # The same bytes about the patient under another of its refs is a row of its own.
    archive.put(b'{"v":1}', "c-1", "r" * 43, 30)
    assert [e.digest for e in archive.for_patient("r" * 43)] == [first]


def consent_bytes() -> bytes:
    doc = records.consent("pat-1", "insurer-b", "HPAYMT", ["Claim"])
    return orjson.dumps({**doc, "id": "consent-9"})


async def grant(node: Node, stored: bytes) -> None:
    body = {
        "consent_id": "consent-9",
        "patient_ref": REF,
        "grantee": {"org": "insurer-b"},
        "purposes": ["HPAYMT"],
        # Wider than the full Consent: replay must decide with the document, not the terms.
        "resource_types": ["*"],
        "period": {},
        "consent_digest": hashlib.sha256(stored).hexdigest(),
    }
    assert (await node.ledger.record_committed("consent.grant", body)).code == 0


async def record_with(node: Node, archive: EvidenceArchive, documents: list[bytes]) -> TxId:
    request = claims_request("insurer-b", "insurer")
    consents = [orjson.loads(d) for d in documents]
    facts = snapshot_facts(node.ledger.store, default_policy(), REF, "insurer-b", consents)
    decision = decide(request, facts, T)
    body = access_body(request, decision, basis=[], envelope_digest=None)
    entry = await node.ledger.record_committed("access.record", body)
    assert entry.code == 0
    return entry.tx_id


async def test_an_archived_consent_confirms_with_the_archive_and_is_missing_without(
    node: Node, archive: EvidenceArchive
) -> None:
    stored = consent_bytes()
    archive.put(stored, "consent-9", REF, T - 1)
    await grant(node, stored)
    tx = await record_with(node, archive, [stored])
    at_custodian = replay_tx(node.store, tx, default_policy(), archive)
    assert (at_custodian.status, at_custodian.evidence.missing) == ("confirmed", ())
    assert [e.digest for e in at_custodian.evidence.ledger] == [evidence_digest(stored)]
    elsewhere = replay_tx(node.store, tx, default_policy())
    assert elsewhere.status == "incomplete"
    assert [c.consent_id for c in elsewhere.evidence.missing] == ["consent-9"]
    assert elsewhere.to_json()["missing_documents"][0]["consent_digest"] == evidence_digest(stored)


async def test_a_revoked_consent_document_is_left_out_on_both_sides(
    node: Node, archive: EvidenceArchive
) -> None:
    stored = consent_bytes()
    archive.put(stored, "consent-9", REF, T - 1)
    await grant(node, stored)
    revoked = await node.ledger.record_committed("consent.revoke", {"consent_id": "consent-9"})
    assert revoked.code == 0
    tx = await record_with(node, archive, [])
    report = replay_tx(node.store, tx, default_policy(), archive)
    assert (report.status, report.evidence.ledger) == ("confirmed", ())
    entry = node.ledger.store.entry_by_tx(tx)
    assert entry is not None
    assert orjson.loads(entry.leaf)["tx"]["body"]["decision"] == Effect.DENY.value


async def test_a_decision_that_ignored_the_archived_document_is_refuted_at_the_custodian(
    node: Node, archive: EvidenceArchive
) -> None:
    stored = consent_bytes()
    archive.put(stored, "consent-9", REF, T - 1)
    await grant(node, stored)
    tx = await record_with(node, archive, [])  # decided on the wider ledger terms alone
    report = replay_tx(node.store, tx, default_policy(), archive)
    assert report.status == "refuted"
    assert report.mismatches
