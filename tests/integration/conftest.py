"""Fixtures for the consortium tests: real NATS clusters and a three-member consortium on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.nodes import make_consortium
from tests.support.nats_cluster import NatsCluster


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """One cluster for a module's tests that kill no server; each test has its own consortium."""
    with NatsCluster(tmp_path_factory.mktemp("nats")) as cluster:
        yield cluster


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """A cluster of its own for a test that kills and restarts servers."""
    with NatsCluster(tmp_path / "nats") as cluster:
        yield cluster


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A fresh three-member consortium's material (keys, genesis) under tmp_path/consortium."""
    folder = tmp_path / "consortium"
    make_consortium(folder)
    return folder
