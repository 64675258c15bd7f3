"""Governance proposals on the production ordering: the proposal stream is the JetStream stream
`<consortium id>-proposals` of a real 3-node NATS cluster, read by every gateway alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.identity.consortium import MemberSpec
from gateway.settings import Settings
from tests.e2e.gateways import Consortium
from tests.e2e.governance import assert_valid_everywhere, endorse, propose, refusal, seen_by
from tests.support.nats_cluster import NatsCluster

pytestmark = [pytest.mark.e2e, pytest.mark.nats]


@pytest.fixture
def on_nats(tmp_path: Path) -> Iterator[Consortium]:
    with NatsCluster(tmp_path / "nats") as cluster:
        members = [MemberSpec("hospital-a", "hospital"), MemberSpec("insurer", "insurer")]
        with Consortium(tmp_path / "c", members, nats_servers=cluster.client_urls) as consortium:
            yield consortium


def test_propose_and_endorse_over_nats(on_nats: Consortium) -> None:
    a, b = on_nats["hospital-a"], on_nats["insurer"]
    made = propose(a, "member.update", {"org": a.org, "endpoint": a.url})
    assert made.status_code == 200, made.text
    p = made.json()
    assert (p["status"], p["quorum"]["needed"]) == ("open", 2)
    assert seen_by(b, p["id"])["digest"] == p["digest"]
    done = endorse(b, p["id"], p["digest"])
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "committed"
    assert_valid_everywhere([a, b], p["digest"])
    assert "already on the ledger" in refusal(endorse(b, p["id"]), 409)
    # Nothing was written to a solo file: the stream lives in the cluster.
    settings = Settings.load(a.folder / "medgate.toml")
    assert settings.ordering.backend == "nats"
    assert not settings.ordering.solo_path.with_name("proposals.db").exists()
