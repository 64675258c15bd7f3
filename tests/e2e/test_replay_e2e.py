"""`medgate audit replay` over real gateways: decisions that rested on the custodian's full FHIR
Consents (a consented claims query, its denial once revoked, a TREAT query, a local opt-out the
ledger cannot carry) are confirmed at the custodian from its evidence archive; another member
says which documents it lacks; an access.record signed with an altered decision is refuted."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from typing import Any

import pytest

from gateway.identity.files import load_private_key
from ledger.entries import decode_entry, make_tx, nonce_from_bytes, sign_entry, tx_id_of
from ledger.ids import OrgId, TxId
from ledger.ordering.solo import SoloOrdering
from ledger.signing import kid_of
from ledger.state import consent
from tests.e2e import records
from tests.e2e.flows import ask, ledger_consent_id, seed, types_of
from tests.e2e.gateways import MEDGATE, Consortium, Gateway, wait_for

pytestmark = pytest.mark.e2e


def committed(gateway: Gateway, tx: str) -> dict[str, Any]:
    """The signed transaction ``tx`` once ``gateway``'s own ledger committed it (bounded wait)."""

    def find() -> dict[str, Any] | None:
        entry = gateway.read_state(lambda s: s.entry_by_tx(TxId(tx)))
        return None if entry is None else dict(decode_entry(entry.leaf).tx)

    return wait_for(find, f"{tx} committed at {gateway.org}")


def replay(gateway: Gateway, tx: str) -> tuple[int, dict[str, Any]]:
    """Run the real CLI with ``gateway``'s config; its exit code and JSON report."""
    committed(gateway, tx)
    done = subprocess.run(
        [MEDGATE, "audit", "replay", tx, "--config", str(gateway.folder / "medgate.toml")],
        capture_output=True,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stdout) if done.stdout else {"status": None}
    return done.returncode, {**report, "stderr": done.stderr.decode(errors="replace")}


def forge(custodian: Gateway, tx: dict[str, Any], **changes: Any) -> str:
    """Re-sign ``tx``'s access.record with ``changes`` as the custodian and order it."""
    key = load_private_key(custodian.folder / "keys" / "signing.key")
    body = {**tx["body"], **changes}
    nonce = nonce_from_bytes(secrets.token_bytes(16))
    forged = make_tx(
        "access.record", OrgId(custodian.org), kid_of(key.public_key()), tx["ts"], nonce, body
    )

    async def order() -> None:
        log = SoloOrdering(custodian.folder.parent / "consortium" / "ordering.db")
        try:
            await log.submit(sign_entry(forged, key), tx_id_of(forged))
        finally:
            await log.close()

    asyncio.run(order())
    return tx_id_of(forged)


def revoke(custodian: Gateway, consent_id: str) -> None:
    headers = custodian.auth()
    current = custodian.http.get(f"/fhir/Consent/{consent_id}", headers=headers).json()
    answer = custodian.http.put(
        f"/fhir/Consent/{consent_id}",
        json={**current, "status": "inactive"},
        headers={**headers, "Content-Type": "application/fhir+json"},
    )
    assert answer.status_code == 200, answer.text

    def revoked() -> bool | None:
        on_ledger = ledger_consent_id(custodian, consent_id)
        found = custodian.read_state(lambda s: consent(s, on_ledger))
        return True if found is not None and found.status == "revoked" else None

    wait_for(revoked, f"revoke of {consent_id}")


def test_consented_revoked_and_treat_decisions_are_confirmed_at_the_custodian(
    solo: Consortium,
) -> None:
    hospital, insurer, other = solo["hospital-a"], solo["insurer"], solo["hospital-b"]
    patient = seed(hospital, claims=2)
    consent_id = hospital.create(
        records.consent(patient.patient_id, "insurer", "HPAYMT", ["Claim"]), hospital.auth()
    )
    on_ledger = ledger_consent_id(hospital, consent_id)
    digest = wait_for(
        lambda: hospital.read_state(lambda s: consent(s, on_ledger)), "consent recorded"
    ).consent_digest
    permitted = ask(insurer, "hospital-a", patient.national_id, "HPAYMT", ["Claim", "Condition"])
    assert permitted.status_code == 200, permitted.text
    revoke(hospital, consent_id)
    denied = ask(insurer, "hospital-a", patient.national_id, "HPAYMT", ["Claim"])
    assert denied.status_code == 403, denied.text
    treat = ask(other, "hospital-a", patient.national_id, "TREAT", ["Observation", "Condition"])
    assert treat.status_code == 200, treat.text

    txs = [a.headers["X-Medgate-Access-Tx"] for a in (permitted, denied, treat)]
    reports = [replay(hospital, tx) for tx in txs]
    assert [(code, r["status"]) for code, r in reports] == [(0, "confirmed")] * 3, reports
    # The permit used the archived Consent the grant pinned; once revoked it is used no more.
    assert [r["ledger_documents"] for _, r in reports] == [[digest], [], []]
    assert all(r["archive_used"] and not r["missing_documents"] for _, r in reports)

    # Elsewhere the archive is absent: the report names the document it lacks, never "refuted".
    code, elsewhere = replay(insurer, txs[0])
    assert (code, elsewhere["status"]) == (2, "incomplete"), elsewhere
    assert elsewhere["missing_documents"] == [{"consent_id": on_ledger, "consent_digest": digest}]

    # The same record re-signed by the custodian with a wider release is refuted.
    original = committed(hospital, txs[0])
    widened = forge(hospital, original, resource_types=["Claim", "Condition"])
    code, refuted = replay(hospital, widened)
    assert (code, refuted["status"]) == (1, "refuted"), refuted
    assert any(m.startswith("decision_digest") for m in refuted["mismatches"])


def test_a_local_opt_out_is_replayed_from_the_archive_and_flagged(solo: Consortium) -> None:
    hospital, other = solo["hospital-a"], solo["hospital-b"]
    patient = seed(hospital, claims=0, family="Optout")
    opt_out = records.consent(patient.patient_id, "hospital-b", "TREAT", ["Observation"])
    opt_out["provision"]["type"] = "deny"
    consent_id = hospital.create(opt_out, hospital.auth())
    answer = ask(other, "hospital-a", patient.national_id, "TREAT", ["Observation", "Condition"])
    tx = answer.headers["X-Medgate-Access-Tx"]
    # The ledger cannot carry an opt-out: the custodian enforced it from its own Consent.
    assert answer.status_code == 200, answer.text
    assert types_of(answer.json()) == ["Condition"]  # Observation withheld by the opt-out
    on_ledger = ledger_consent_id(hospital, consent_id)
    assert hospital.read_state(lambda s: consent(s, on_ledger)) is None
    code, report = replay(hospital, tx)
    assert (code, report["status"]) == (0, "confirmed"), report
    assert len(report["local_documents"]) == 1
    assert any("custodian-local" in note for note in report["notes"])
    # Another member cannot know of the opt-out: unconfirmed there, and said to be incomplete.
    code, elsewhere = replay(other, tx)
    assert (code, elsewhere["status"], elsewhere["missing_documents"]) == (2, "incomplete", [])
    assert any("only be replayed at the custodian" in note for note in elsewhere["notes"])
