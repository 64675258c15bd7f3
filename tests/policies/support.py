"""Helpers shared by the policies tests: golden case loading and request building."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from policies.document import ConsortiumPolicy, default_policy
from policies.facts import Facts, build_facts
from policies.model import Period, Request

GOLDEN = Path(__file__).parent / "golden"


@cache
def policy() -> ConsortiumPolicy:
    return default_policy()


def epoch_ms(text: str) -> int:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return int(moment.timestamp()) * 1000


def golden_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in sorted(GOLDEN.glob("*.json")):
        for case in json.loads(path.read_text()):
            case["file"] = path.name
            cases.append(case)
    return cases


def request_of(doc: dict[str, Any]) -> Request:
    period = doc.get("data_period")
    labels = doc.get("security_labels")
    return Request(
        requester_org=doc["requester_org"],
        requester_role=doc["requester_role"],
        custodian=doc["custodian"],
        patient_ref=doc["patient_ref"],
        resource_types=tuple(doc["resource_types"]),
        purpose=doc["purpose"],
        break_glass=doc.get("break_glass", False),
        consent_ref=doc.get("consent_ref"),
        data_period=None if period is None else Period(period.get("start"), period.get("end")),
        security_labels=None if labels is None else tuple(labels),
        break_glass_started=doc.get("break_glass_started"),
    )


def facts_of(doc: dict[str, Any]) -> Facts:
    return build_facts(
        policy(),
        consents=doc.get("consents", []),
        terms=doc.get("terms", []),
        grants=doc.get("grants", []),
        revoked=doc.get("revoked", []),
        members=doc.get("members"),
    )
