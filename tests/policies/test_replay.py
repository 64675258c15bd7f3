"""Replay: an access.record re-decided from the facts at its height confirms or refutes its digest."""

from __future__ import annotations

from typing import Any

import pytest

from policies.errors import RecordError
from policies.facts import build_facts
from policies.model import Decision, Effect, Period, Request
from policies.pdp import decide
from policies.replay import replay, request_from_record
from tests.policies.support import policy

NOW = 1_780_272_000_000
CONSENT = {
    "resourceType": "Consent",
    "id": "c-1",
    "status": "active",
    "patient": {"reference": "pt-1"},
    "provision": {
        "type": "permit",
        "actor": [
            {"role": {"coding": [{"code": "PRCP"}]}, "reference": {"reference": "Organization/ins"}}
        ],
        "provision": [{"type": "deny", "securityLabel": [{"code": "PSY"}]}],
    },
}
REQUEST = Request(
    "ins",
    "insurer",
    "h1",
    "pt-1",
    ("Claim", "Observation"),
    "HPAYMT",
    consent_ref="c-1",
    data_period=Period(0, NOW),
    security_labels=("PSY",),
)


def _record(request: Request, decision: Decision) -> dict[str, Any]:
    """An access.record body as the gateway writes it."""
    return {
        "requester": request.requester_org,
        "requester_role": request.requester_role,
        "custodian": request.custodian,
        "patient_ref": request.patient_ref,
        "purpose": request.purpose,
        "requested_types": list(request.resource_types),
        "resource_types": list(decision.permitted_types),
        "break_glass": request.break_glass,
        "consent_ref": request.consent_ref,
        "data_period": None if request.data_period is None else request.data_period.to_json(),
        "security_labels": None
        if request.security_labels is None
        else list(request.security_labels),
        "decision": decision.effect.value,
        "decision_digest": decision.decision_digest,
        "policy_version": decision.policy_version,
        "ts": NOW,
    }


def test_record_rebuilds_the_request() -> None:
    decision = decide(REQUEST, build_facts(policy(), consents=[CONSENT]), NOW)
    assert request_from_record(_record(REQUEST, decision)) == REQUEST


def test_replay_confirms_the_recorded_decision() -> None:
    facts = build_facts(policy(), consents=[CONSENT])
    decision = decide(REQUEST, facts, NOW)
    assert decision.effect is Effect.PERMIT
    result = replay(_record(REQUEST, decision), build_facts(policy(), consents=[CONSENT]))
    assert result.confirmed
    assert result.mismatches == ()
    assert result.recomputed_digest == decision.decision_digest
    assert result.decision == decision


def test_replay_refutes_a_forged_permit() -> None:
    facts = build_facts(policy(), consents=[CONSENT], revoked=["c-1"])
    denied = decide(REQUEST, facts, NOW)
    assert denied.effect is Effect.DENY
    forged = _record(REQUEST, decide(REQUEST, build_facts(policy(), consents=[CONSENT]), NOW))
    result = replay(forged, facts)
    assert not result.confirmed
    assert result.decision.effect is Effect.DENY
    assert [m.split(":")[0] for m in result.mismatches] == ["decision_digest", "effect"]


def test_replay_at_another_time_refutes() -> None:
    facts = build_facts(policy(), consents=[CONSENT])
    record = _record(REQUEST, decide(REQUEST, facts, NOW))
    result = replay({**record, "ts": NOW + 1}, facts)
    assert not result.confirmed  # `now` is part of the input digest
    assert result.decision.effect is Effect.PERMIT


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"requester": None}, "requester"),
        ({"requested_types": "Claim"}, "requested_types"),
        ({"ts": "now"}, "ts"),
        ({"break_glass": "no"}, "break_glass"),
        ({"data_period": {"start": 1.5}}, "data_period.start"),
        ({"decision_digest": 7}, "decision_digest"),
    ],
)
def test_malformed_record_is_an_error(change: dict[str, Any], path: str) -> None:
    facts = build_facts(policy(), consents=[CONSENT])
    record = {**_record(REQUEST, decide(REQUEST, facts, NOW)), **change}
    with pytest.raises(RecordError) as info:
        replay(record, facts)
    assert info.value.path == path
