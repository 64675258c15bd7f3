"""Fixtures for the consortium tests: real NATS clusters and a three-member consortium on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.nodes import make_consortium


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A fresh three-member consortium's material (keys, genesis) under tmp_path/consortium."""
    folder = tmp_path / "consortium"
    make_consortium(folder)
    return folder
