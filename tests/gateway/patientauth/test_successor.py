"""A refresh token's successor is sealed to the spent token: that token opens it, nothing else
does (not another token, not the digest the database keeps, not an altered value); and a sign-in
database of the previous release gains the successor columns in place."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.patientauth.pkce import digest, new_secret
from gateway.patientauth.successor import SEALED_MAX, open_sealed, seal
from gateway.patientauth.tables import REFRESH, SignInTables


def test_only_the_spent_token_opens_its_successor() -> None:
    spent, successor = new_secret(), new_secret()
    sealed = seal(spent, successor)
    assert len(sealed) <= SEALED_MAX
    assert successor not in sealed
    assert open_sealed(spent, sealed) == successor
    assert open_sealed(new_secret(), sealed) is None
    assert open_sealed(digest(spent), sealed) is None
    # A character well inside (the last one before the padding may carry only unused bits).
    altered = sealed[:30] + ("A" if sealed[30] != "A" else "B") + sealed[31:]
    assert open_sealed(spent, altered) is None
    assert open_sealed(spent, "not base64 !") is None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_sign_in_database_of_the_previous_release_is_upgraded(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
    engine = sa.create_engine(url)
    old = sa.MetaData()
    sa.Table(  # the table as the previous release created it
        "patient_refresh_tokens",
        old,
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("family", sa.String(64), nullable=False, index=True),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("patient_ref", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(512), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("used", sa.Integer, nullable=False, default=0),
    )
    old.create_all(engine)
    tables = SignInTables(engine)
    with engine.connect() as conn:
        names = {c["name"] for c in sa.inspect(conn).get_columns(REFRESH.name)}
    assert {"used_at", "successor"} <= names
    SignInTables(engine)  # a second replica starting finds nothing to add
    engine.dispose()
    tables.engine.dispose()
