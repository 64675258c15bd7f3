"""The sign-in store on SQLite and a real PostgreSQL: every "use once" holds when two callers
race for the same code or refresh token (one conditional UPDATE decides)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.errors import OAuthError
from gateway.patientauth.pkce import s256
from gateway.patientauth.requests import AuthRequest, PublicClient
from gateway.patientauth.server import Lifetimes, PatientAuthServer
from gateway.patientauth.tables import SignInTables
from gateway.services.patient_tokens import PatientTokens
from ledger.ids import PatientRef
from tests.gateway.member import new_key

REDIRECT = "https://portal.example/portal"
RACERS = 8


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'signin.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    made = sa.create_engine(url)
    yield made
    made.dispose()


def _server(engine: sa.Engine) -> PatientAuthServer:
    tokens = PatientTokens("https://gw.example", new_key(), secrets.token_bytes(32))
    clients = {"app": PublicClient("app", (REDIRECT,))}
    return PatientAuthServer(SignInTables(engine), tokens, clients, Lifetimes(60, 300, 3600))


def _race(calls: list[dict[str, str]], server: PatientAuthServer) -> list[bool]:
    def one(form: dict[str, str]) -> bool:
        try:
            server.token(form, 1000)
        except OAuthError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        return list(pool.map(one, calls))


def test_one_winner_per_code_and_per_refresh_token(engine: sa.Engine) -> None:
    server = _server(engine)
    verifier = secrets.token_urlsafe(48)
    req = AuthRequest("app", REDIRECT, "s", s256(verifier), "patient/*.read")
    location = server.issue_code(req, PatientRef("p" * 43), 1000)
    code = location.split("code=")[1].split("&")[0]
    form = {
        "grant_type": "authorization_code",
        "client_id": "app",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    assert sum(_race([form] * RACERS, server)) == 1

    location = server.issue_code(req, PatientRef("p" * 43), 1000)
    fresh = dict(form, code=location.split("code=")[1].split("&")[0])
    refresh = server.token(fresh, 1000)["refresh_token"]
    again = {"grant_type": "refresh_token", "client_id": "app", "refresh_token": refresh}
    assert sum(_race([again] * RACERS, server)) == 1
