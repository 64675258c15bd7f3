"""`medgate ledger verify --config` over the production ordering: the log is read from a real
3-node NATS JetStream cluster, and the store is compared with a running peer's cosigned checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.identity.consortium import MemberSpec
from tests.e2e.flows import ask, seed
from tests.e2e.gateways import Consortium, wait_for
from tests.e2e.member_ops import head_height, stop_member, verify_member
from tests.support.nats_cluster import NatsCluster

pytestmark = [pytest.mark.e2e, pytest.mark.nats]


def test_verify_recomputes_positions_from_nats_and_agrees_with_a_peer(tmp_path: Path) -> None:
    members = [MemberSpec("hospital-a", "hospital"), MemberSpec("hospital-b", "hospital")]
    with (
        NatsCluster(tmp_path / "nats") as cluster,
        Consortium(tmp_path / "c", members, nats_servers=cluster.client_urls) as c,
    ):
        a, b = c["hospital-a"], c["hospital-b"]
        patient = seed(a, claims=0)
        for _ in range(2):
            before = head_height(a)
            assert ask(b, "hospital-a", patient.national_id, "TREAT", ["Observation"]).is_success
            wait_for(lambda: head_height(a) > before, "the access record's block")  # noqa: B023
        wait_for(lambda: b.http.get("/ledger/head", headers=b.auth()).is_success, "b's ledger")
        stop_member(a)  # verify reads a store that does not move
        code, summary, err = verify_member(a, "--against", b.url)
        assert code == 0, (summary, err)
        assert summary["log_checked"] is True
        assert summary["height"] == head_height(a)
        standings = {r["source"]: r["standing"] for r in summary["references"]}
        assert standings[f"{b.url}'s cosigned checkpoint"] in {"current", "ahead"}
