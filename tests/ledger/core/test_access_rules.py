"""Access and erasure records: submitted by the custodian, basis ids must exist, and the queries."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.entries import decode_entry
from ledger.state import access_by_requester, access_for_patient
from ledger.state.access import erasure
from ledger.validation.codes import ValidationCode as C
from tests.ledger.core.world import (
    AGENCY,
    HOSPITAL,
    INSURER,
    access_body,
    consent_body,
    digest,
    pref,
    three_orgs,
)

P1 = pref("patient-1")


def test_access_records_by_patient_and_requester_in_log_order() -> None:
    world, chain = three_orgs()
    assert chain.submit(world.entry("consent.grant", HOSPITAL, consent_body())) == C.VALID
    first = world.entry("access.record", HOSPITAL, access_body(basis=["c1"]))
    denial = access_body(
        decision="deny", reason="no-consent", requester=AGENCY, requester_role="agency"
    )
    del denial["envelope_digest"]
    second = world.entry("access.record", HOSPITAL, denial)
    assert chain.submit(first) == C.VALID
    assert chain.submit(second) == C.VALID
    records = access_for_patient(chain.state, P1)
    assert [(r.index, r.decision, r.requester) for r in records] == [
        (2, "permit", INSURER),
        (3, "deny", AGENCY),
    ]
    assert records[0].tx_id == decode_entry(first).tx_id
    assert records[0].basis == ("c1",)
    assert records[1].envelope_digest is None
    assert records[1].reason == "no-consent"
    assert [r.index for r in access_by_requester(chain.state, AGENCY)] == [3]


def test_access_record_after_revocation_is_still_valid() -> None:
    """The decision may predate a revocation ordered just before it: the audit must still record it."""
    world, chain = three_orgs()
    assert chain.submit(world.entry("consent.grant", HOSPITAL, consent_body())) == C.VALID
    assert chain.submit(world.entry("consent.revoke", HOSPITAL, {"consent_id": "c1"})) == C.VALID
    assert (
        chain.submit(world.entry("access.record", HOSPITAL, access_body(basis=["c1"]))) == C.VALID
    )


def test_access_record_by_someone_else_than_the_custodian() -> None:
    world, chain = three_orgs()
    assert chain.submit(world.entry("access.record", INSURER, access_body())) == C.NOT_OWNER


def test_access_basis_must_exist() -> None:
    world, chain = three_orgs()
    assert (
        chain.submit(world.entry("access.record", HOSPITAL, access_body(basis=["c404"])))
        == C.NOT_FOUND
    )


@pytest.mark.parametrize(
    "override",
    [
        {"decision": "maybe"},
        {"break_glass": "no"},
        {"decision_digest": "0" * 63},
        {"requester": "Insurer B"},
        {"reason": "free text with spaces"},
        {"resource_types": []},
    ],
)
def test_access_bad_body(override: dict[str, Any]) -> None:
    world, chain = three_orgs()
    assert (
        chain.submit(world.entry("access.record", HOSPITAL, access_body(**override))) == C.BAD_BODY
    )


def test_erasure_record() -> None:
    world, chain = three_orgs()
    body = {"record_digest": digest("rec"), "patient_ref": P1, "reason": "patient-request"}
    assert chain.submit(world.entry("erasure.record", HOSPITAL, body)) == C.VALID
    found = erasure(chain.state, HOSPITAL, digest("rec"))
    assert found is not None
    assert (found.patient_ref, found.index) == (P1, 1)
    assert chain.submit(world.entry("erasure.record", HOSPITAL, body)) == C.ALREADY_EXISTS
    # Another custodian's erasure of a record with the same digest is its own evidence.
    assert chain.submit(world.entry("erasure.record", INSURER, body)) == C.VALID
    assert (
        chain.submit(world.entry("erasure.record", HOSPITAL, {**body, "reason": ""})) == C.BAD_BODY
    )
