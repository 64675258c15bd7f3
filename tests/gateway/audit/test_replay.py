"""`medgate audit replay` on access records made here with a real ledger node and policies.decide:
a permit and a deny are confirmed, an altered recorded digest is refuted."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.cli.main import main
from gateway.identity.consortium import create_consortium
from gateway.identity.files import load_private_key
from gateway.services.access_record import access_body
from gateway.services.facts import snapshot_facts
from gateway.services.ledger import LedgerService
from gateway.services.replay import replay_tx
from ledger.ids import OrgId, TxId
from ledger.ordering.solo import SoloOrdering
from ledger.storage.sql import SqlStore
from policies import Decision, Effect, Request, decide, default_policy
from tests.gateway.audit.harness import MEMBERS

T = 1_900_000_000_000
"""The node's clock is fixed: the decision's `now` is the record's `ts`, as replay requires."""
REF = "p" * 43


@dataclass
class Node:
    root: Path
    config: Path
    ledger: LedgerService
    store: SqlStore


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    created = create_consortium(tmp_path, "replay test", MEMBERS)
    folder = tmp_path / "hospital-a"
    store = SqlStore(f"sqlite:///{folder / 'data' / 'ledger.db'}")
    ledger = LedgerService(
        OrgId("hospital-a"),
        load_private_key(folder / "keys" / "signing.key"),
        store,
        SoloOrdering(tmp_path / "consortium" / "ordering.db"),
        (tmp_path / "consortium" / "genesis.json").read_bytes(),
        clock_ms=lambda: T,
        cut_after=0.02,
    )
    await ledger.start()
    try:
        yield Node(tmp_path, created.members[0].config, ledger, store)
    finally:
        await ledger.stop()


async def record_decision(node: Node, request: Request, *, tamper: bool = False) -> TxId:
    facts = snapshot_facts(
        node.ledger.store, default_policy(), request.patient_ref, request.requester_org, []
    )
    decision: Decision = decide(request, facts, T)
    body = access_body(request, decision, basis=[], envelope_digest=None)
    if tamper:
        body["decision_digest"] = hashlib.sha256(b"not the decision").hexdigest()
    entry = await node.ledger.record_committed("access.record", body)
    assert entry.code == 0
    return entry.tx_id


def claims_request(org: str, role: str) -> Request:
    return Request(org, role, "hospital-a", REF, ("Claim",), "HPAYMT")


async def grant_consent(node: Node) -> None:
    consent = {
        "consent_id": "consent-7",
        "patient_ref": REF,
        "grantee": {"org": "insurer-b"},
        "purposes": ["HPAYMT"],
        "resource_types": ["Claim"],
        "period": {},
        "consent_digest": hashlib.sha256(b"consent-7").hexdigest(),
    }
    entry = await node.ledger.record_committed("consent.grant", consent)
    assert entry.code == 0


async def test_a_permit_and_a_deny_are_confirmed(node: Node) -> None:
    await grant_consent(node)
    permit = await record_decision(node, claims_request("insurer-b", "insurer"))
    deny = await record_decision(node, claims_request("agency-c", "agency"))
    confirmed = [replay_tx(node.store, tx, default_policy()) for tx in (permit, deny)]
    assert [r.confirmed for r in confirmed] == [True, True]
    assert [r.recorded_digest == r.recomputed_digest for r in confirmed] == [True, True]
    assert confirmed[0].mismatches == ()
    assert confirmed[1].mismatches == ()
    assert decide_effect(node, permit) is Effect.PERMIT
    assert decide_effect(node, deny) is Effect.DENY


def decide_effect(node: Node, tx: TxId) -> Effect:
    entry = node.ledger.store.entry_by_tx(tx)
    assert entry is not None
    body = json.loads(entry.leaf)["tx"]["body"]
    return Effect(body["decision"])


async def test_replay_uses_state_before_the_entry_not_the_head(node: Node) -> None:
    # Recorded before the consent exists: denied then; replay must not see the later consent.
    early = await record_decision(node, claims_request("insurer-b", "insurer"))
    await grant_consent(node)
    result = replay_tx(node.store, early, default_policy())
    assert result.confirmed
    assert decide_effect(node, early) is Effect.DENY


async def test_an_altered_digest_is_refuted(node: Node) -> None:
    await grant_consent(node)
    tampered = await record_decision(node, claims_request("insurer-b", "insurer"), tamper=True)
    result = replay_tx(node.store, tampered, default_policy())
    assert not result.confirmed
    assert result.recorded_digest != result.recomputed_digest
    assert any(m.startswith("decision_digest") for m in result.mismatches)


async def test_the_cli_exits_0_when_confirmed_1_when_refuted_2_when_unknown(
    node: Node, capsys: pytest.CaptureFixture[str]
) -> None:
    await grant_consent(node)
    good = await record_decision(node, claims_request("insurer-b", "insurer"))
    bad = await record_decision(node, claims_request("insurer-b", "insurer"), tamper=True)
    config = str(node.config)
    assert main(["audit", "replay", good, "--config", config]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["confirmed"] is True
    assert out["recorded_digest"] == out["recomputed_digest"]
    assert out["status"] == "confirmed"
    assert out["archive_used"] is True  # hospital-a is the custodian: its own archive is read
    assert main(["audit", "replay", bad, "--config", config]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["confirmed"] is False
    assert out["mismatches"]
    assert main(["audit", "replay", "0" * 64, "--config", config]) == 2
    consent_tx = node.ledger.store.entries(1, 1)[0].tx_id
    assert main(["audit", "replay", consent_tx, "--config", config]) == 2
