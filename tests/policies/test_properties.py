"""Properties of the decision point over generated consents, terms, grants and requests."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from policies.canonical import ascii_keyed_digest, canonical, sha256_hex
from policies.facts import build_facts
from policies.model import Effect, Period, Request, purpose_lineage
from policies.pdp import decide
from policies.provision import Context, evaluate
from tests.policies.support import policy

ORGS = ["h-1", "h-2", "ins-1", "ins-2", "ag-1"]
ROLES = {
    "h-1": "hospital",
    "h-2": "hospital",
    "ins-1": "insurer",
    "ins-2": "insurer",
    "ag-1": "agency",
}
PURPOSES = ["TREAT", "ETREAT", "HPAYMT", "PUBHLTH", "HRESCH", "PATRQT"]
TYPES = ["Claim", "Coverage", "Patient", "Observation", "Condition", "Encounter", "Procedure"]
LABELS = ["PSY", "HIV", "ETH", "N"]
YEAR_MS = 31_536_000_000
NOW_BASE = 56 * YEAR_MS
PATIENT = "pt-1"
SETTINGS = settings(max_examples=120, deadline=None)


def _actor(org: str, role: str) -> dict[str, Any]:
    return {"role": {"coding": [{"code": role}]}, "reference": {"reference": f"Organization/{org}"}}


@st.composite
def provisions(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    node: dict[str, Any] = {"type": draw(st.sampled_from(["permit", "deny"]))}
    if draw(st.booleans()):
        node["actor"] = [
            _actor(o, draw(st.sampled_from(["PRCP", "CST"])))
            for o in draw(st.lists(st.sampled_from(ORGS), min_size=1, max_size=2))
        ]
    if draw(st.booleans()):
        node["purpose"] = [
            {"code": p} for p in draw(st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=2))
        ]
    if draw(st.booleans()):
        node["class"] = [
            {"system": "http://hl7.org/fhir/resource-types", "code": t}
            for t in draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=3))
        ]
    if draw(st.integers(0, 4)) == 0:
        node["securityLabel"] = [{"code": draw(st.sampled_from(LABELS))}]
    if draw(st.integers(0, 4)) == 0:
        year = draw(st.integers(2015, 2027))
        node["period"] = {"start": f"{year}-01-01", "end": f"{year + 1}-06-30"}
    if depth < 2:
        node["provision"] = draw(st.lists(provisions(depth + 1), max_size=2))
    return node


@st.composite
def consents(draw: st.DrawFn) -> dict[str, Any]:
    root = draw(provisions())
    if draw(st.booleans()):
        del root["type"]  # the policyRule decides the root's type
    consent: dict[str, Any] = {
        "resourceType": "Consent",
        "id": f"c-{draw(st.integers(0, 99))}",
        "status": draw(st.sampled_from(["active", "active", "inactive"])),
        "patient": {"reference": PATIENT},
        "policyRule": {"coding": [{"code": draw(st.sampled_from(["OPTIN", "OPTOUT"]))}]},
        "provision": root,
    }
    return consent


@st.composite
def terms(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "consent_id": f"t-{draw(st.integers(0, 99))}",
        "patient_ref": PATIENT,
        "grantee": draw(
            st.sampled_from([None, {"org": "ins-1"}, {"role": "insurer"}, {"org": "h-2"}])
        ),
        "purposes": draw(st.lists(st.sampled_from(PURPOSES), max_size=2)),
        "resource_types": draw(st.lists(st.sampled_from(TYPES), max_size=3)),
        "period": {
            "start": NOW_BASE - YEAR_MS,
            "end": NOW_BASE + draw(st.integers(1 - YEAR_MS, YEAR_MS)),
        },
        "status": "active",
        "consent_digest": None,
    }


@st.composite
def grants(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "grant_id": f"g-{draw(st.integers(0, 99))}",
        "grantor": draw(st.sampled_from(["h-1", "h-2"])),
        "grantee": draw(st.sampled_from(ORGS)),
        "resource_types": draw(st.lists(st.sampled_from(TYPES), max_size=3)),
        "purposes": draw(st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=2)),
        "expires": NOW_BASE + draw(st.integers(-YEAR_MS, YEAR_MS)),
        "revoked": draw(st.booleans()),
    }


@st.composite
def requests(draw: st.DrawFn) -> Request:
    org = draw(st.sampled_from(ORGS))
    return Request(
        requester_org=org,
        requester_role=ROLES[org],
        custodian=draw(st.sampled_from(["h-1", "h-2"])),
        patient_ref=PATIENT,
        resource_types=tuple(
            draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=4, unique=True))
        ),
        purpose=draw(st.sampled_from(PURPOSES)),
        break_glass=draw(st.integers(0, 5)) == 0,
        security_labels=draw(st.none() | st.lists(st.sampled_from(LABELS), max_size=2).map(tuple)),
    )


facts_parts = st.fixed_dictionaries(
    {
        "consents": st.lists(consents(), max_size=4),
        "terms": st.lists(terms(), max_size=3),
        "grants": st.lists(grants(), max_size=3),
        "revoked": st.lists(st.sampled_from(["c-1", "t-1", "g-1"]), max_size=1),
    }
)
nows = st.integers(NOW_BASE - YEAR_MS, NOW_BASE + YEAR_MS)


def _facts(parts: dict[str, Any]) -> Any:
    return build_facts(policy(), members=ORGS, **parts)


@SETTINGS
@given(requests(), facts_parts, nows)
def test_same_inputs_same_decision_and_digests(
    request: Request, parts: dict[str, Any], now: int
) -> None:
    first = decide(request, _facts(parts), now)
    again = decide(request, _facts(json.loads(json.dumps(parts))), now)
    assert first == again
    shuffled = {k: list(reversed(v)) for k, v in parts.items()}
    assert decide(request, _facts(shuffled), now) == first  # order of facts does not matter
    assert first.decision_digest == ascii_keyed_digest(first.to_json())


@SETTINGS
@given(requests(), facts_parts, nows)
def test_narrowing_never_widens(request: Request, parts: dict[str, Any], now: int) -> None:
    decision = decide(request, _facts(parts), now)
    rule = policy().rule(request.requester_role, request.purpose)
    if decision.effect is Effect.DENY:
        assert decision.permitted_types == ()
        return
    assert rule is not None
    assert decision.errors == ()
    assert decision.permitted_types
    assert set(decision.permitted_types) <= set(request.resource_types)
    assert set(decision.permitted_types) <= rule.resource_types | rule.referenced_types
    assert set(decision.permitted_types) & rule.resource_types


@SETTINGS
@given(requests(), facts_parts, consents(), nows)
def test_deny_overrides(
    request: Request, parts: dict[str, Any], extra: dict[str, Any], now: int
) -> None:
    before = decide(request, _facts(parts), now)
    opt_out = {
        "resourceType": "Consent",
        "id": "c-out",
        "status": "active",
        "patient": {"reference": PATIENT},
        "provision": {"type": "deny"},
    }
    with_opt_out = decide(
        request, _facts({**parts, "consents": [*parts["consents"], opt_out]}), now
    )
    if not request.break_glass:
        assert with_opt_out.effect is Effect.DENY
    extra["provision"]["type"] = "deny"
    extra["provision"].pop("provision", None)
    extra["status"] = "active"
    with_deny = decide(request, _facts({**parts, "consents": [*parts["consents"], extra]}), now)
    assert set(with_deny.permitted_types) <= set(before.permitted_types)


@SETTINGS
@given(requests(), facts_parts, terms(), nows)
def test_a_further_permit_never_withdraws(
    request: Request, parts: dict[str, Any], more: dict[str, Any], now: int
) -> None:
    before = decide(request, _facts(parts), now)
    after = decide(
        request, _facts({**parts, "terms": [*parts["terms"], {**more, "consent_id": "t-new"}]}), now
    )
    assert set(before.permitted_types) <= set(after.permitted_types)


@SETTINGS
@given(requests(), st.lists(consents(), min_size=1, max_size=5), nows)
def test_index_misses_no_applicable_consent(
    request: Request, raw: list[dict[str, Any]], now: int
) -> None:
    facts = build_facts(policy(), consents=raw)
    candidates = {
        id(c) for c in facts.consents_for(PATIENT, request.requester_org, request.requester_role)
    }
    ctx = Context(request, now, purpose_lineage(request.purpose))
    for record in facts.consents:  # the naive reference: evaluate every live consent
        if record.status == "active" and evaluate(record.root, ctx, frozenset(TYPES)):
            assert id(record) in candidates


@SETTINGS
@given(requests(), st.text(max_size=8), st.integers(-(2**53) + 1, 2**53 - 1))
def test_fast_digest_is_canonical(request: Request, text: str, number: int) -> None:
    body = {
        **request.to_json(),
        "note": text,
        "number": number,
        "data_period": Period(number, None).to_json(),
    }
    assert ascii_keyed_digest(body) == sha256_hex(canonical(body))
