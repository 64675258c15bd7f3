"""The `access.record` body of one decision (pure): what the patient's log and a replay read.

It carries the request as asked (requested types, consent_ref, break-glass start: replay needs
them to reproduce the decision digest), the decision, the ids it rests on, and for a release the
digest of the envelope that left.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from typing import Any

from policies import ConsentApplied, Decision, Denied, Effect, GrantApplied, Request

CODE_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""The ledger's format of codes (obligations, reasons): ledger/validation/fields.py."""


def ledger_code(text: str) -> str:
    """``text`` when the ledger's code format admits it, else its kind and a digest of it.

    Data-level obligations name codes and periods (``exclude-code:http://...|123``) that the
    ledger's tight format refuses; the decision digest still pins the exact text."""
    if CODE_RE.fullmatch(text):
        return text
    kind = text.split(":", 1)[0][:24]
    return f"{kind}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def basis_ids(decision: Decision, recorded: Collection[str]) -> list[str]:
    """Consent and grant ids the decision rests on, limited to those on the ledger (a custodian's
    consent that could not be recorded is still enforced, but cannot be named as a basis)."""
    ids = set()
    for reason in decision.reasons:
        match reason:
            case ConsentApplied(consent_id=found) | GrantApplied(grant_id=found):
                ids.add(found)
    return sorted(ids & set(recorded))


def access_body(
    request: Request,
    decision: Decision,
    *,
    basis: list[str],
    envelope_digest: str | None,
) -> dict[str, Any]:
    """Requires ``request.resource_types`` non-empty and in the ledger's type format."""
    permit = decision.effect is Effect.PERMIT
    body: dict[str, Any] = {
        "requester": request.requester_org,
        "requester_role": request.requester_role,
        "custodian": request.custodian,
        "patient_ref": request.patient_ref,
        "purpose": request.purpose,
        "resource_types": list(decision.permitted_types if permit else request.resource_types),
        "requested_types": list(request.resource_types),
        "decision": decision.effect.value,
        "basis": basis,
        "policy_version": ledger_code(decision.policy_version),
        "obligations": sorted({ledger_code(o.code) for o in decision.obligations}),
        "break_glass": request.break_glass,
        "decision_digest": decision.decision_digest,
    }
    if envelope_digest is not None:
        body["envelope_digest"] = envelope_digest
    if not permit:
        causes = [r.code for r in decision.reasons if isinstance(r, Denied)] or ["deny"]
        body["reason"] = ledger_code(causes[0])
    if request.consent_ref is not None:
        body["consent_ref"] = request.consent_ref
    if request.break_glass and request.break_glass_started is not None:
        body["break_glass_started"] = request.break_glass_started
    return body
