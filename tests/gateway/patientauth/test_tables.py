"""The sign-in store on SQLite and a real PostgreSQL: every "use once" holds when two callers
race for the same code or refresh token (one conditional UPDATE decides; the losers of a refresh
race get the winner's successor)."""

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
        # A writer waits for the lock up to 30 s (the default 5 s is short on a loaded machine).
        url = f"sqlite:///{tmp_path / 'signin.db'}"
        made = sa.create_engine(url, connect_args={"timeout": 30})
    else:
        made = sa.create_engine(request.getfixturevalue("pg_url"))
    yield made
    made.dispose()


def _server(engine: sa.Engine) -> PatientAuthServer:
    tokens = PatientTokens("https://gw.example", new_key(), secrets.token_bytes(32))
    clients = {"app": PublicClient("app", (REDIRECT,))}
    return PatientAuthServer(SignInTables(engine), tokens, clients, Lifetimes(60, 300, 3600))


def _race(form: dict[str, str], server: PatientAuthServer) -> list[str]:
    """RACERS threads send ``form`` at once; the refresh tokens the winners got."""

    def one(_: int) -> str | None:
        try:
            return str(server.token(form, 1000)["refresh_token"])
        except OAuthError:
            return None

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        return [r for r in pool.map(one, range(RACERS)) if r is not None]


def _refused(server: PatientAuthServer, refresh: str) -> bool:
    form = {"grant_type": "refresh_token", "client_id": "app", "refresh_token": refresh}
    try:
        server.token(form, 1000)
    except OAuthError:
        return True
    return False


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
    winners = _race(form, server)
    assert len(winners) == 1
    # The losers' reuse of the code revoked the session it started.
    assert _refused(server, winners[0])

    location = server.issue_code(req, PatientRef("p" * 43), 1000)
    fresh = dict(form, code=location.split("code=")[1].split("&")[0])
    refresh = server.token(fresh, 1000)["refresh_token"]
    again = {"grant_type": "refresh_token", "client_id": "app", "refresh_token": refresh}
    # Racing refreshes (tabs of one app, within the grace window): one spends the token, and
    # every one of them gets the same successor; the session goes on with it.
    winners = _race(again, server)
    assert len(winners) == RACERS
    assert len(set(winners)) == 1
    assert not _refused(server, winners[0])
