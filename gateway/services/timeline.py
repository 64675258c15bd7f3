"""The patient's access log in words a person reads: each entry of gateway.services.patient_audit
gains a ``display`` object (who by the member's registered name, why, what, decision and reason in
plain words, break-glass), and the checkpoint its cosigners by name.

The words are added beside the ledger's codes, never instead of them: the portal proves each row
against its leaf, so the codes stay what the proof covers. Names come from the member registry on
the ledger (``member.add`` records), so every gateway shows the same name for a member.
Synchronous (reads the ledger store): call from a worker thread.
"""

from __future__ import annotations

from typing import Any

from gateway.services import vocabulary as words
from ledger.state import consent, grant, member
from ledger.statekv import StateReader

NameStore = StateReader
"""What the timeline reads of a ledger store (ledger.storage.sql.SqlStore satisfies it)."""


def member_name(store: NameStore, org: str) -> str:
    """The member's registered display name; the org id itself if the registry has none."""
    found = member(store, org)
    return found.name if found is not None and found.name else org


def _display(store: NameStore, entry: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    def name(org: str) -> str:
        if org not in names:
            names[org] = member_name(store, org)
        return names[org]

    basis = entry.get("basis") or []
    by_consent = any(consent(store, b) is not None for b in basis)
    by_grant = any(grant(store, b) is not None for b in basis)
    requester = entry["requester"]
    return {
        "who": name(requester["org"]),
        "holder": name(entry["custodian"]),
        "why": words.purpose_words(entry["purpose"]),
        "what": words.kinds_words(entry["resource_types"]),
        "decision": words.decision_words(entry["decision"]),
        "reason": words.decision_reason(
            entry["decision"],
            entry.get("reason"),
            by_consent=by_consent,
            by_grant=by_grant,
            break_glass=bool(entry.get("break_glass")),
        ),
        "break_glass": bool(entry.get("break_glass")),
    }


def describe(store: NameStore, audit: dict[str, Any]) -> dict[str, Any]:
    """``audit`` (PatientAudit.to_json()) with a ``display`` object on every entry and the
    checkpoint's ``cosigners`` (org and name, in signature order). Returns a new dict."""
    names: dict[str, str] = {}
    entries = [e | {"display": _display(store, e, names)} for e in audit["entries"]]
    out = audit | {"entries": entries}
    checkpoint = audit.get("checkpoint")
    if checkpoint is not None:
        signers = [s["org"] for s in checkpoint.get("signatures", [])]
        out["cosigners"] = [{"org": org, "name": member_name(store, org)} for org in signers]
    else:
        out["cosigners"] = []
    return out
