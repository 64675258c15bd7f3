"""Fixtures of the end-to-end tests: one consortium of real gateway processes for the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.identity.consortium import MemberSpec
from tests.e2e.gateways import Consortium
from tests.support.nats_cluster import NatsCluster

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-b", "hospital"),
    MemberSpec("insurer", "insurer"),
    MemberSpec("agency", "agency"),
]


@pytest.fixture(scope="session")
def solo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    """hospital-a, hospital-b, insurer and agency on the embedded `solo` ordering."""
    root: Path = tmp_path_factory.mktemp("consortium")
    with Consortium(root, MEMBERS) as consortium:
        yield consortium


@pytest.fixture
def on_nats(tmp_path: Path) -> Iterator[Consortium]:
    """hospital-a and insurer, ordered on a real three-node NATS JetStream cluster of their own."""
    with NatsCluster(tmp_path / "nats") as cluster:
        members = [MemberSpec("hospital-a", "hospital"), MemberSpec("insurer", "insurer")]
        with Consortium(tmp_path / "c", members, nats_servers=cluster.client_urls) as consortium:
            yield consortium
