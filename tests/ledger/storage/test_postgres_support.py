"""The test PostgreSQL helpers: the throwaway-server fallback really starts and stops a server."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.postgres import DSN_ENV, FORCE_ENV, fresh_database, server_dsn


@pytest.mark.postgres
def test_forced_throwaway_server_serves_fresh_databases_then_goes_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DSN_ENV, raising=False)
    monkeypatch.setenv(FORCE_ENV, "1")
    with server_dsn() as dsn:
        assert ":5432/" not in dsn  # not the local server: a throwaway one on a free port
        with fresh_database(dsn) as url, psycopg.connect(url.replace("+psycopg", "")) as conn:
            row = conn.execute(
                "SELECT current_database(), count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone()
            assert row is not None
            assert row[0].startswith("medgate_test_")
            assert row[1] == 0
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=3)


@pytest.mark.postgres
def test_fresh_database_is_dropped_afterwards(pg_server: str) -> None:
    with fresh_database(pg_server) as url:
        name = url.rsplit("/", 1)[1]
    with psycopg.connect(pg_server) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    assert found is None
