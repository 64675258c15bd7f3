"""Ledger consent terms and grants: parsing, flattening a FHIR Consent, malformed facts deny."""

from __future__ import annotations

from typing import Any

import pytest

from policies.errors import FactsError
from policies.facts import build_facts
from policies.model import ConsentTerms, Effect, Period, Request
from policies.pdp import decide
from policies.reasons import Denied, DenyCause
from policies.terms import (
    flattening_losses,
    grant_from_body,
    terms_from_body,
    terms_from_consent,
    terms_to_body,
)
from tests.policies.support import policy

RT = "http://hl7.org/fhir/resource-types"


def _consent(provision: dict[str, Any], rule: str | None = None) -> dict[str, Any]:
    consent: dict[str, Any] = {
        "resourceType": "Consent",
        "id": "c-9",
        "status": "active",
        "patient": {"reference": "Patient/local-17"},
        "provision": provision,
    }
    if rule is not None:
        consent["policyRule"] = {"coding": [{"code": rule}]}
    return consent


def _org(org: str, role: str = "PRCP") -> dict[str, Any]:
    return {"role": {"coding": [{"code": role}]}, "reference": {"reference": f"Organization/{org}"}}


def test_terms_body_round_trip() -> None:
    body = {
        "consent_id": "c-1",
        "patient_ref": "pt",
        "grantee": {"role": "insurer"},
        "purposes": ["HPAYMT"],
        "resource_types": ["Claim"],
        "period": {"start": 10, "end": None},
        "status": "active",
        "consent_digest": "ab" * 32,
        "effect": "permit",
    }
    terms = terms_from_body(body)
    assert terms.grantee_role == "insurer"
    assert terms.period == Period(10, None)
    assert terms_to_body(terms) == body


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"grantee": {"org": "a", "role": "b"}}, "grantee"),
        ({"purposes": "HPAYMT"}, "purposes"),
        ({"period": {"start": 5, "end": 5}}, "period"),
        ({"period": {"start": "2026-01-01"}}, "period.start"),
        ({"effect": "maybe"}, "effect"),
        ({"consent_id": ""}, "consent_id"),
    ],
)
def test_malformed_terms_name_the_field(change: dict[str, Any], path: str) -> None:
    body = {"consent_id": "c", "patient_ref": "p", "status": "active", **change}
    with pytest.raises(FactsError) as info:
        terms_from_body(body)
    assert info.value.path == path


def test_grant_body() -> None:
    grant = grant_from_body(
        {
            "grant_id": "g",
            "grantor": "h",
            "grantee": "a",
            "resource_types": ["Condition"],
            "purposes": ["HRESCH"],
            "expires": 99,
        }
    )
    assert grant.revoked is False
    assert grant.resource_types == {"Condition"}
    with pytest.raises(FactsError) as info:
        grant_from_body(
            {
                "grant_id": "g",
                "grantor": "h",
                "grantee": "a",
                "resource_types": [],
                "purposes": [],
                "expires": "soon",
            }
        )
    assert info.value.path == "expires"


def test_flatten_keeps_root_terms_and_class_denies() -> None:
    consent = _consent(
        {
            "type": "permit",
            "actor": [_org("ins-acme")],
            "purpose": [{"code": "HPAYMT"}],
            "class": [{"system": RT, "code": c} for c in ("Claim", "Coverage", "ClaimResponse")],
            "period": {"start": "2026-01-01", "end": "2026-12-31"},
            "provision": [
                {"type": "deny", "class": [{"system": RT, "code": "Coverage"}]},
                {"type": "deny", "securityLabel": [{"code": "PSY"}]},
            ],
        }
    )
    terms = terms_from_consent(consent, patient_ref="pt-hmac", consent_digest="d")
    assert terms == ConsentTerms(
        consent_id="c-9",
        patient_ref="pt-hmac",
        grantee_org="ins-acme",
        grantee_role=None,
        purposes=frozenset({"HPAYMT"}),
        resource_types=frozenset({"Claim", "ClaimResponse"}),
        period=Period(1_767_225_600_000, 1_798_761_600_000),
        status="active",
        consent_digest="d",
        effect=Effect.PERMIT,
    )
    assert flattening_losses(consent) == ("provision.provision[1]",)


def test_flatten_opt_out_is_a_deny_for_anyone() -> None:
    terms = terms_from_consent(_consent({}, rule="OPTOUT"), patient_ref="pt")
    assert terms.effect is Effect.DENY
    assert terms.grantee_org is None
    assert terms.grantee_role is None


@pytest.mark.parametrize(
    ("provision", "problem"),
    [
        (
            {
                "type": "permit",
                "actor": [
                    {
                        "role": {"coding": [{"code": "PRCP"}]},
                        "reference": {"reference": "Practitioner/7"},
                    }
                ],
            },
            "names no consortium",
        ),
        ({"type": "permit", "actor": [_org("a"), _org("b")]}, "several grantees"),
    ],
)
def test_flatten_refuses_to_widen(provision: dict[str, Any], problem: str) -> None:
    with pytest.raises(FactsError) as info:
        terms_from_consent(_consent(provision), patient_ref="pt")
    assert problem in info.value.problem


def test_flattened_terms_decide_like_the_consent_on_what_they_keep() -> None:
    consent = _consent(
        {
            "type": "permit",
            "actor": [_org("ins-acme")],
            "purpose": [{"code": "HPAYMT"}],
            "class": [{"system": RT, "code": "Claim"}],
        }
    )
    body = terms_to_body(terms_from_consent(consent, patient_ref="Patient/local-17"))
    request = Request(
        "ins-acme", "insurer", "h", "Patient/local-17", ("Claim", "Coverage"), "HPAYMT"
    )
    full = decide(request, build_facts(policy(), consents=[consent]), 1)
    flat = decide(request, build_facts(policy(), terms=[body]), 1)
    assert full.effect is flat.effect is Effect.PERMIT
    assert full.permitted_types == flat.permitted_types == ("Claim",)
    assert full.reasons == flat.reasons


def test_malformed_facts_deny_with_the_error() -> None:
    facts = build_facts(policy(), terms=[{"consent_id": "c"}], grants=[{"grant_id": 1.5}])
    request = Request("h2", "hospital", "h1", "pt", ("Observation",), "TREAT")
    decision = decide(request, facts, 0)
    assert decision.effect is Effect.DENY
    assert decision.reasons == (Denied(DenyCause.ERROR),)
    assert decision.errors == (
        "terms[0].patient_ref: must be a non-empty string",
        "grants[0].grant_id: float is not canonical JSON (floats are refused)",
    )
