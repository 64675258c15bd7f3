"""``GET /policy``: the consortium policy the ledger says is in force, with its digest and height."""

from __future__ import annotations

import time

import httpx

from gateway.auth.peer import make_peer_assertion
from gateway.identity.files import load_private_key
from ledger.state import policy
from ledger.storage.sql import SqlStore
from policies.canonical import digest
from policies.document import default_policy_bytes, parse_document
from tests.gateway.audit.harness import Consortium

HOSPITAL = "hospital-a"


def get(c: Consortium, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{c.urls[HOSPITAL]}/policy", headers=headers, timeout=30)


def test_policy_in_force_matches_the_ledger_state(consortium: Consortium) -> None:
    body = get(consortium, consortium.client_token(HOSPITAL, "system/Claim.read")).json()
    store = SqlStore(consortium.settings[HOSPITAL].ledger_store_url)
    try:
        in_force = policy(store)
        head = store.head()
    finally:
        store.close()
    assert in_force is not None
    assert head is not None
    assert body["digest"] == in_force.digest
    assert body["version"] == in_force.version
    assert body["set_at_index"] == in_force.index == 0  # the genesis set it
    assert 0 <= body["height"] <= head.height
    assert body["document"] == parse_document(default_policy_bytes())
    assert digest(body["document"]) == body["digest"]  # the served document is the one in force
    purposes = body["document"]["roles"]["insurer"]["purposes"]
    assert "HPAYMT" in purposes


def test_policy_is_readable_by_patients_and_peers_not_anonymously(consortium: Consortium) -> None:
    assert get(consortium, None).status_code == 401
    assert get(consortium, "not-a-token").status_code == 401
    assert get(consortium, consortium.patient_token()).status_code == 200
    peer = make_peer_assertion(
        load_private_key(consortium.root / "insurer-b" / "keys" / "signing.key"),
        org="insurer-b",
        audience=consortium.settings[HOSPITAL].public_url,
        purpose="HPAYMT",
        now=int(time.time()),
    )
    assert get(consortium, peer).status_code == 200
