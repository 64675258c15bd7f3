"""Pytest fixtures for real NATS JetStream clusters (registered for every test via tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.nats_cluster import NatsCluster


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """One cluster for a module's tests that kill no server; each test uses its own consortium."""
    with NatsCluster(tmp_path_factory.mktemp("nats")) as cluster:
        yield cluster


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """A cluster of its own for a test that kills and restarts servers."""
    with NatsCluster(tmp_path / "nats") as cluster:
        yield cluster
