"""Fixtures shared by every test package: real PostgreSQL, vector folder location."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import fresh_database, server_dsn

pytest_plugins = ["tests.support.nats_fixtures"]

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors"


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """The shared conformance vectors. Absent only in a user's own clone (not in CI): then skip."""
    if not VECTORS.is_dir():
        # The one skip shared/vectors/README.md allows: vectors are read in place and never copied
        # into the repo, so a user's own clone lacks them. CI and every session have them.
        pytest.skip(f"conformance vectors absent: {VECTORS} (expected beside the checkout)")
    return VECTORS


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """DSN of a real PostgreSQL server: MEDGATE_TEST_PG_DSN, else 127.0.0.1:5432, else a throwaway
    server started with the system's pg_ctl. Never skips: a missing server fails the tests."""
    with server_dsn() as dsn:
        yield dsn


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A SQLAlchemy URL (postgresql+psycopg://...) to a fresh, empty database, dropped afterwards."""
    with fresh_database(pg_server) as url:
        yield url
