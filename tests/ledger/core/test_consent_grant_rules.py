"""Consent and grant rules: who may record them, existence, ownership, revocation, and the queries."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.ids import OrgId
from ledger.state import consent, consents_for_patient, grant, grants_for
from ledger.validation.codes import ValidationCode as C
from tests.ledger.core.world import (
    AGENCY,
    HOSPITAL,
    INSURER,
    consent_body,
    grant_body,
    pref,
    three_orgs,
)

P1 = pref("patient-1")


def test_consent_grant_and_query() -> None:
    world, chain = three_orgs()
    assert chain.submit(world.entry("consent.grant", HOSPITAL, consent_body())) == C.VALID
    assert chain.submit(world.entry("consent.grant", INSURER, consent_body("c2"))) == C.VALID
    found = consents_for_patient(chain.state, P1)
    assert [c.consent_id for c in found] == ["c1", "c2"]
    first = found[0]
    assert (first.custodian, first.grantee_org, first.status, first.index) == (
        HOSPITAL,
        INSURER,
        "active",
        1,
    )
    assert first.in_force(1_000)
    assert not first.in_force(2_000_000_000_001)
    assert consents_for_patient(chain.state, pref("someone else")) == []


def test_agency_never_records_consent() -> None:
    world, chain = three_orgs()
    assert chain.submit(world.entry("consent.grant", AGENCY, consent_body())) == C.ROLE_FORBIDDEN


def test_consent_id_is_unique_and_grantee_org_must_exist() -> None:
    world, chain = three_orgs()
    assert chain.submit(world.entry("consent.grant", HOSPITAL, consent_body())) == C.VALID
    assert chain.submit(world.entry("consent.grant", INSURER, consent_body())) == C.ALREADY_EXISTS
    unknown = consent_body("c3", grantee={"org": "nobody"})
    assert chain.submit(world.entry("consent.grant", HOSPITAL, unknown)) == C.NOT_FOUND


@pytest.mark.parametrize(
    "override",
    [
        {"grantee": {}},
        {"grantee": {"role": "patient"}},
        {"purposes": []},
        {"resource_types": ["claim"]},
        {"period": {"start": 5, "end": 4}},
        {"patient_ref": "John Smith, born 1970"},
        {"consent_id": "a/b"},
        {"consent_digest": "XYZ"},
        {"extra": "field"},
    ],
)
def test_consent_bad_body(override: dict[str, Any]) -> None:
    world, chain = three_orgs()
    assert (
        chain.submit(world.entry("consent.grant", HOSPITAL, consent_body(**override))) == C.BAD_BODY
    )


def test_consent_revoke() -> None:
    world, chain = three_orgs()
    assert chain.submit(world.entry("consent.grant", HOSPITAL, consent_body())) == C.VALID
    revoke = {"consent_id": "c1"}
    assert chain.submit(world.entry("consent.revoke", INSURER, revoke)) == C.NOT_OWNER
    assert (
        chain.submit(world.entry("consent.revoke", HOSPITAL, {"consent_id": "c9"})) == C.NOT_FOUND
    )
    assert chain.submit(world.entry("consent.revoke", HOSPITAL, revoke)) == C.VALID
    revoked = consent(chain.state, "c1")
    assert revoked is not None
    assert (revoked.status, revoked.revoked_index) == ("revoked", 4)
    assert not revoked.in_force(1_000)
    assert chain.submit(world.entry("consent.revoke", HOSPITAL, revoke)) == C.ALREADY_REVOKED


def test_grant_issue_and_query() -> None:
    world, chain = three_orgs()
    assert chain.submit(world.entry("grant.issue", HOSPITAL, grant_body())) == C.VALID
    assert chain.submit(world.entry("grant.issue", AGENCY, grant_body("g2"))) == C.VALID
    found = grants_for(chain.state, INSURER)
    assert [(g.grant_id, g.grantor) for g in found] == [("g1", HOSPITAL), ("g2", AGENCY)]
    assert found[0].in_force(1_799_999_999_999)
    assert not found[0].in_force(1_800_000_000_000)
    assert grants_for(chain.state, AGENCY) == []


@pytest.mark.parametrize(
    ("org", "body", "code"),
    [
        (HOSPITAL, grant_body(grantee=HOSPITAL), C.BAD_BODY),
        (HOSPITAL, grant_body(expires=5), C.BAD_BODY),
        (HOSPITAL, grant_body(grantee="nobody"), C.NOT_FOUND),
        (HOSPITAL, grant_body(purposes="HPAYMT"), C.BAD_BODY),
    ],
)
def test_grant_issue_refusals(org: OrgId, body: dict[str, Any], code: C) -> None:
    world, chain = three_orgs()
    assert chain.submit(world.entry("grant.issue", org, body)) == code


def test_grant_to_removed_member_and_duplicate_id() -> None:
    world, chain = three_orgs()
    assert chain.submit(world.entry("grant.issue", HOSPITAL, grant_body())) == C.VALID
    assert chain.submit(world.entry("grant.issue", HOSPITAL, grant_body())) == C.ALREADY_EXISTS
    remove = world.entry("member.remove", HOSPITAL, {"org": INSURER}, endorsers=[AGENCY])
    assert chain.submit(remove) == C.VALID
    assert chain.submit(world.entry("grant.issue", HOSPITAL, grant_body("g5"))) == C.MEMBER_INACTIVE


def test_grant_revoke() -> None:
    world, chain = three_orgs()
    assert chain.submit(world.entry("grant.issue", HOSPITAL, grant_body())) == C.VALID
    assert chain.submit(world.entry("grant.revoke", INSURER, {"grant_id": "g1"})) == C.NOT_OWNER
    assert chain.submit(world.entry("grant.revoke", HOSPITAL, {"grant_id": "g0"})) == C.NOT_FOUND
    assert chain.submit(world.entry("grant.revoke", HOSPITAL, {"grant_id": "g1"})) == C.VALID
    revoked = grant(chain.state, "g1")
    assert revoked is not None
    assert revoked.status == "revoked"
    assert (
        chain.submit(world.entry("grant.revoke", HOSPITAL, {"grant_id": "g1"})) == C.ALREADY_REVOKED
    )
