"""Replay of a recorded decision: rebuild the request from an `access.record`, decide again at the
record's `ts` against the facts at its height, and confirm or refute the recorded decision digest.

The record must carry everything that went into the request: requester, requester_role, custodian,
patient_ref, purpose, the *requested* resource types (`requested_types`, else `resource_types`),
break_glass, and when used consent_ref, data_period, security_labels, break_glass_started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policies.errors import RecordError
from policies.facts import Facts
from policies.model import Decision, Period, Request
from policies.pdp import decide


@dataclass(frozen=True, slots=True)
class ReplayResult:
    confirmed: bool
    recorded_digest: str
    recomputed_digest: str
    decision: Decision
    mismatches: tuple[str, ...]  # human-readable differences; empty when confirmed


def request_from_record(record: Mapping[str, Any]) -> Request:
    """The Request an `access.record` body describes. Raises RecordError naming the field."""
    types_field = "requested_types" if "requested_types" in record else "resource_types"
    types = record.get(types_field)
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise RecordError(types_field, "must be a list of resource type names")
    labels = record.get("security_labels")
    if labels is not None and not (
        isinstance(labels, list) and all(isinstance(x, str) for x in labels)
    ):
        raise RecordError("security_labels", "must be a list of strings or null")
    return Request(
        requester_org=_text(record, "requester"),
        requester_role=_text(record, "requester_role"),
        custodian=_text(record, "custodian"),
        patient_ref=_text(record, "patient_ref"),
        resource_types=tuple(types),
        purpose=_text(record, "purpose"),
        break_glass=_bool(record, "break_glass"),
        consent_ref=_opt_text(record, "consent_ref"),
        data_period=_period(record.get("data_period")),
        security_labels=None if labels is None else tuple(labels),
        break_glass_started=_opt_int(record, "break_glass_started"),
    )


def replay(record: Mapping[str, Any], facts: Facts) -> ReplayResult:
    """Re-decide `record` with `facts` (the snapshot at the record's height) at `record["ts"]`.

    Raises RecordError when the record lacks a field; a different outcome is a refutation, not
    an error. Requires `facts` to hold the policy in force at that height.
    """
    recorded = _text(record, "decision_digest")
    now = _opt_int(record, "ts")
    if now is None:
        raise RecordError("ts", "is required")
    decision = decide(request_from_record(record), facts, now)
    mismatches = []
    if decision.decision_digest != recorded:
        mismatches.append(
            f"decision_digest: recorded {recorded}, recomputed {decision.decision_digest}"
        )
    effect = _recorded_effect(record.get("decision"))
    if effect is not None and effect != decision.effect.value:
        mismatches.append(f"effect: recorded {effect}, recomputed {decision.effect.value}")
    version = record.get("policy_version")
    if version is not None and version != decision.policy_version:
        mismatches.append(
            f"policy_version: recorded {version}, facts hold {decision.policy_version}"
        )
    return ReplayResult(
        not mismatches, recorded, decision.decision_digest, decision, tuple(mismatches)
    )


def _recorded_effect(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("effect")
    return value if isinstance(value, str) else None


def _period(value: object) -> Period | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RecordError("data_period", "must be an object {start, end} or null")
    start, end = value.get("start"), value.get("end")
    for name, side in (("start", start), ("end", end)):
        if side is not None and (isinstance(side, bool) or not isinstance(side, int)):
            raise RecordError(f"data_period.{name}", "must be epoch ms or null")
    return Period(start, end)


def _text(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise RecordError(key, "must be a non-empty string")
    return value


def _opt_text(record: Mapping[str, Any], key: str) -> str | None:
    return None if record.get(key) is None else _text(record, key)


def _opt_int(record: Mapping[str, Any], key: str) -> int | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(key, "must be an integer")
    return value


def _bool(record: Mapping[str, Any], key: str) -> bool:
    value = record.get(key, False)
    if not isinstance(value, bool):
        raise RecordError(key, "must be a boolean")
    return value
