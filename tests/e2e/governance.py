"""Governance steps the end-to-end tests share: the operator's CLI and HTTP calls to a member's own
gateway (propose, list, endorse), and waiting until an entry is committed at every member."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from typing import Any

import httpx

from ledger.storage.base import StoredEntry
from ledger.validation.codes import ValidationCode
from tests.e2e.gateways import MEDGATE, Gateway, wait_for

OPERATOR_SCOPES = "system/Ledger.read system/Ledger.write"


def operator(gateway: Gateway) -> dict[str, str]:
    """Headers of the member's operator client (Ledger.write named explicitly)."""
    return {"Authorization": f"Bearer {gateway.token(OPERATOR_SCOPES, client='operator')}"}


def medgate(gateway: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    """``medgate ARGS --config <gateway's medgate.toml>`` as the member's operator runs it."""
    config = str(gateway.folder / "medgate.toml")
    return subprocess.run(
        [MEDGATE, *args, "--config", config],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def propose(gateway: Gateway, type_: str, body: dict[str, Any], **extra: Any) -> httpx.Response:
    request = {"type": type_, "body": body, **extra}
    return gateway.http.post("/governance/proposals", json=request, headers=operator(gateway))


def endorse(gateway: Gateway, proposal_id: str, digest: str | None = None) -> httpx.Response:
    body = None if digest is None else {"digest": digest}
    path = f"/governance/proposals/{proposal_id}/endorsements"
    return gateway.http.post(path, json=body, headers=operator(gateway))


def listed(gateway: Gateway, proposal_id: str) -> dict[str, Any]:
    """The proposal as ``gateway`` lists it (GET /governance/proposals, Ledger.read)."""
    answer = gateway.http.get("/governance/proposals", headers=gateway.auth("system/Ledger.read"))
    assert answer.status_code == 200, answer.text
    found = [p for p in answer.json()["proposals"] if p["id"] == proposal_id]
    assert len(found) == 1, f"{gateway.org} lists {proposal_id} {len(found)} times"
    proposal: dict[str, Any] = found[0]
    return proposal


def seen_by(gateway: Gateway, proposal_id: str) -> dict[str, Any]:
    """Wait until ``gateway`` lists the proposal (its follower of the stream has folded it in)."""

    def probe() -> dict[str, Any] | None:
        answer = gateway.http.get(
            f"/governance/proposals/{proposal_id}", headers=gateway.auth("system/Ledger.read")
        )
        return answer.json() if answer.status_code == 200 else None

    return wait_for(probe, f"{gateway.org} to see proposal {proposal_id}")


def committed_at_all(gateways: Iterable[Gateway], digest: str) -> list[StoredEntry]:
    """The entry ``digest`` as each member's own store holds it, once committed there."""
    out = []
    for gateway in gateways:

        def probe(gw: Gateway = gateway) -> StoredEntry | None:
            return gw.read_state(lambda store: store.entry_by_tx(digest))  # type: ignore[arg-type]

        out.append(wait_for(probe, f"{digest[:16]} committed at {gateway.org}"))
    return out


def assert_valid_everywhere(gateways: Iterable[Gateway], digest: str) -> int:
    """Every member committed the entry VALID at the same height; that height."""
    entries = committed_at_all(gateways, digest)
    assert {ValidationCode(e.code) for e in entries} == {ValidationCode.VALID}
    heights = {e.height for e in entries}
    assert len(heights) == 1, heights
    return heights.pop()


def refusal(answer: httpx.Response, status: int) -> str:
    """The OperationOutcome diagnostics of a refusal with ``status``."""
    assert answer.status_code == status, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    diagnostics: str = outcome["issue"][0]["diagnostics"]
    return diagnostics


def cli_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    value: dict[str, Any] = json.loads(done.stdout)
    return value
