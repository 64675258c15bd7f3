"""Fixtures of the gateway tests: a member folder, a manual clock, an app on SQLite and a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.auth.peer import MemoryDirectory
from gateway.settings import Settings
from tests.gateway.member import ManualClock, Member, client_assertion, token_form, write_member
from tests.gateway.serve import serve


@pytest.fixture
def member(tmp_path: Path) -> Member:
    return write_member(tmp_path)


@pytest.fixture
def settings(member: Member) -> Settings:
    return Settings.load(member.config)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def directory() -> MemoryDirectory:
    return MemoryDirectory()


@pytest.fixture
def client(
    settings: Settings, clock: ManualClock, directory: MemoryDirectory
) -> Iterator[httpx.Client]:
    """An HTTP client to the gateway served by uvicorn on a loopback socket."""
    app = create_app(settings, directory=directory, clock=clock)
    with serve(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as http:
        http.app = app  # type: ignore[attr-defined]  # lets a test reach the app's services
        yield http


def fetch_token(client: httpx.Client, member: Member, now: int, scope: str | None = None) -> str:
    assertion = client_assertion(member.client_key, f"{member.public_url}/auth/token", now)
    form = token_form(assertion) if scope is None else token_form(assertion, scope)
    response = client.post("/auth/token", data=form)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token


@pytest.fixture
def auth(client: httpx.Client, member: Member, clock: ManualClock) -> dict[str, str]:
    return {"Authorization": f"Bearer {fetch_token(client, member, clock.now)}"}
