"""The read-only ledger API over a running gateway: head, entries, final checkpoint, proofs, auth;
and /metrics over the same traffic."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import httpx
import pytest

from gateway.auth.peer import make_peer_assertion
from gateway.identity.files import load_private_key
from ledger.canonical import canonical
from ledger.checkpoint import decode_cosigned, electorate_of, verify_cosigned
from ledger.ids import ConsortiumId
from ledger.merkle import verify_consistency, verify_inclusion
from ledger.storage.sql import SqlStore
from tests.gateway.audit.harness import Consortium

HOSPITAL = "hospital-a"


def get(c: Consortium, path: str, token: str | None = None, **params: Any) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{c.urls[HOSPITAL]}{path}", params=params, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def token(consortium: Consortium) -> str:
    return consortium.client_token(HOSPITAL, "system/Ledger.read")


def test_head_and_final_checkpoint_agree_and_verify(consortium: Consortium, token: str) -> None:
    head = get(consortium, "/ledger/head", token).json()
    raw = get(consortium, "/ledger/checkpoint", token).json()
    cosigned = decode_cosigned(canonical(raw))
    store = SqlStore(consortium.settings[HOSPITAL].ledger_store_url)
    try:
        electorate = electorate_of(store)
        block = store.block(cosigned.cp.height)
    finally:
        store.close()
    cp = verify_cosigned(
        cosigned, electorate, ConsortiumId(consortium.settings[HOSPITAL].consortium)
    )
    assert block is not None
    assert cp.block_hash == block.hash()
    assert head["height"] >= cp.height
    assert head["tree_size"] >= cp.tree_size


def test_entry_and_inclusion_proof(consortium: Consortium, token: str) -> None:
    cp = get(consortium, "/ledger/checkpoint", token).json()["cp"]
    entry = get(consortium, "/ledger/entries/2", token).json()
    assert entry["index"] == 2
    assert entry["code"] == 0
    assert entry["tx_id"] in consortium.tx_ids
    leaf = base64.urlsafe_b64decode(entry["leaf"] + "=" * (-len(entry["leaf"]) % 4))
    proof = get(consortium, "/ledger/proof/inclusion", token, index=2, size=cp["tree_size"]).json()
    verify_inclusion(
        hashlib.sha256(b"\x00" + leaf).digest(),
        2,
        cp["tree_size"],
        [bytes.fromhex(h) for h in proof["hashes"]],
        bytes.fromhex(cp["tree_root"]),
    )


def test_consistency_proof_between_two_blocks(consortium: Consortium, token: str) -> None:
    cp = get(consortium, "/ledger/checkpoint", token).json()["cp"]
    first = get(consortium, "/ledger/blocks/1", token).json()
    proof = get(
        consortium,
        "/ledger/proof/consistency",
        token,
        **{"from": first["tree_size"], "to": cp["tree_size"]},
    ).json()
    verify_consistency(
        first["tree_size"],
        cp["tree_size"],
        [bytes.fromhex(h) for h in proof["hashes"]],
        bytes.fromhex(first["tree_root"]),
        bytes.fromhex(cp["tree_root"]),
    )


def test_out_of_range_requests_are_refused(consortium: Consortium, token: str) -> None:
    size = get(consortium, "/ledger/head", token).json()["tree_size"]
    assert get(consortium, f"/ledger/entries/{size}", token).status_code == 404
    assert (
        get(consortium, "/ledger/proof/inclusion", token, index=0, size=size + 1).status_code == 400
    )
    assert (
        get(consortium, "/ledger/proof/consistency", token, **{"from": 0, "to": 1}).status_code
        == 400
    )
    assert get(consortium, "/ledger/blocks/999999", token).status_code == 404


@pytest.mark.parametrize("value", [2**63 - 1, 2**63, 2**64, 10**30])
def test_heights_and_indexes_past_the_sql_range_are_not_found(
    consortium: Consortium, token: str, value: int
) -> None:
    """Past 2**63 a height used to reach the SQLite bind and answer 500 (OverflowError)."""
    for path in (f"/ledger/blocks/{value}", f"/ledger/entries/{value}"):
        response = get(consortium, path, token)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["resourceType"] == "OperationOutcome"


def test_reading_requires_a_client_scope_or_a_peer_assertion(consortium: Consortium) -> None:
    assert get(consortium, "/ledger/head").status_code == 401
    patient_scope = consortium.client_token(HOSPITAL, "system/Patient.read")
    assert get(consortium, "/ledger/head", patient_scope).status_code == 403
    peer = make_peer_assertion(
        load_private_key(consortium.root / "insurer-b" / "keys" / "signing.key"),
        org="insurer-b",
        audience=consortium.settings[HOSPITAL].public_url,
        purpose="HOPERAT",
        now=int(time.time()),
    )
    assert get(consortium, "/ledger/head", peer).status_code == 200
    assert get(consortium, "/ledger/head", peer).status_code == 401  # one use per assertion


def test_metrics_expose_requests_ledger_and_checkpoints(consortium: Consortium, token: str) -> None:
    def metrics() -> tuple[str, dict[str, str]]:
        text = httpx.get(f"{consortium.urls[HOSPITAL]}/metrics", timeout=30).text
        lines = (line for line in text.splitlines() if line and not line.startswith("#"))
        return text, dict(line.rsplit(" ", 1) for line in lines)

    ok = 'medgate_http_requests_total{method="GET",route="/ledger/head",status="200"}'
    unmatched = 'medgate_http_requests_total{method="GET",route="<unmatched>",status="404"}'
    _, before = metrics()
    get(consortium, "/ledger/head", token)
    get(consortium, "/no/such/route")
    text, samples = metrics()
    assert int(samples[ok]) == int(before.get(ok, "0")) + 1
    assert int(samples[unmatched]) == int(before.get(unmatched, "0")) + 1
    assert int(samples["medgate_ledger_height"]) >= 1
    assert int(samples["medgate_ledger_tree_size"]) >= 6
    assert int(samples["medgate_ordering_lag"]) >= 0
    assert int(samples["medgate_checkpoint_final_height"]) >= 1
    assert samples["medgate_checkpoint_alarm"] == "0"
    assert "# TYPE medgate_http_requests_total counter" in text
    assert consortium.ref not in text
    assert "/no/such/route" not in text


def test_readyz_is_ready_with_checkpoints_on(consortium: Consortium) -> None:
    response = httpx.get(f"{consortium.urls[HOSPITAL]}/readyz", timeout=30)
    assert response.status_code == 200
    assert response.json()["checkpoints"] == "on"
