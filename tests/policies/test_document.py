"""The consortium policy document: defaults users expect, digest, and errors that name the place."""

from __future__ import annotations

import json

import pytest
import yaml

from policies.document import (
    Basis,
    default_policy,
    default_policy_bytes,
    load_policy,
    policy_digest,
)
from policies.errors import PolicyDocumentError
from policies.obligations import AUDIT, DEIDENTIFY, NOTIFY_PATIENT

VALID = """
version: "1"
roles:
  insurer:
    purposes:
      HPAYMT:
        basis: consent
        resource_types: [Claim, Coverage, ExplanationOfBenefit]
"""


def test_default_policy_holds_the_expected_defaults() -> None:
    policy = default_policy()
    insurer = policy.rule("insurer", "HPAYMT")
    assert insurer is not None
    assert insurer.basis is Basis.CONSENT
    assert insurer.resource_types == {"Claim", "ClaimResponse", "ExplanationOfBenefit", "Coverage"}
    emergency = policy.rule("hospital", "ETREAT")
    assert emergency is not None
    assert emergency.break_glass is not None
    assert NOTIFY_PATIENT in emergency.break_glass.obligations
    for purpose in ("PUBHLTH", "HRESCH"):
        agency = policy.rule("agency", purpose)
        assert agency is not None
        assert agency.obligations == (AUDIT, DEIDENTIFY)
    assert policy.rule("insurer", "TREAT") is None


def test_digest_is_of_the_parsed_document_not_its_formatting() -> None:
    reformatted = yaml.safe_dump(yaml.safe_load(VALID), default_flow_style=True)
    assert reformatted != VALID
    assert policy_digest(VALID) == policy_digest(reformatted)
    # JSON is YAML: the canonical JSON of the document has the same digest.
    assert policy_digest(json.dumps(yaml.safe_load(VALID))) == policy_digest(VALID)
    changed = VALID.replace("Coverage, ", "")
    assert policy_digest(changed) != policy_digest(VALID)


def test_default_policy_digest_matches_its_bytes() -> None:
    assert default_policy().digest == policy_digest(default_policy_bytes())
    assert len(default_policy().digest) == 64


@pytest.mark.parametrize(
    ("old", "new", "path", "problem"),
    [
        (
            "Coverage, ExplanationOfBenefit",
            "Coverage, claim",
            "roles.insurer.purposes.HPAYMT.resource_types[2]",
            "not a FHIR resource type",
        ),
        (
            "Coverage, ExplanationOfBenefit",
            "Coverage, Claim",
            "roles.insurer.purposes.HPAYMT.resource_types[2]",
            "duplicate",
        ),
        ("basis: consent", "basis: always", "roles.insurer.purposes.HPAYMT.basis", "not one of"),
        (
            "basis: consent",
            "basis: consent\n        colour: blue",
            "roles.insurer.purposes.HPAYMT.colour",
            "unknown key",
        ),
        ("        basis: consent\n", "", "roles.insurer.purposes.HPAYMT.basis", "is required"),
        ('version: "1"', "version: 1.5", "version", "must be a non-empty string"),
        ("HPAYMT:", "hpaymt:", "roles.insurer.purposes.hpaymt", "ActReason"),
        ("insurer:", "Insurer:", "roles.Insurer", "role name"),
        (
            "resource_types: [Claim, Coverage, ExplanationOfBenefit]",
            "resource_types: []",
            "roles.insurer.purposes.HPAYMT.resource_types",
            "at least one",
        ),
        (
            "basis: consent",
            "basis: consent\n        obligations: [audit, shred]",
            "roles.insurer.purposes.HPAYMT.obligations[1]",
            "not audit",
        ),
        (
            "basis: consent",
            "basis: consent\n        break_glass: {minutes: 0}",
            "roles.insurer.purposes.HPAYMT.break_glass.minutes",
            "1..1440",
        ),
        ("basis: consent", "basis: consent\n        basis: policy", "line 8", "duplicate key"),
        ("roles:", "roles: [", "line", "not YAML"),
    ],
)
def test_malformed_document_names_place_and_problem(
    old: str, new: str, path: str, problem: str
) -> None:
    assert old in VALID
    with pytest.raises(PolicyDocumentError) as info:
        load_policy(VALID.replace(old, new))
    assert info.value.path.startswith(path)
    assert problem in info.value.problem


def test_yaml_date_is_refused_with_its_path() -> None:
    with pytest.raises(PolicyDocumentError) as info:
        load_policy(VALID + "description: 2026-01-01\n")
    assert info.value.path == "description"


def test_valid_document_loads() -> None:
    policy = load_policy(VALID)
    rule = policy.rule("insurer", "HPAYMT")
    assert rule is not None
    assert rule.rule_id == "policy:insurer/HPAYMT"
    assert rule.obligations == ()
    assert rule.break_glass is None
