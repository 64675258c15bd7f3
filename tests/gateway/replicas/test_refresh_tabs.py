"""Two tabs of the portal refreshing one session at once, one through each replica: both get the
one successor and the session goes on. A spent refresh token presented again after the grace
window, or once its successor was itself spent, still ends the session (reuse detection)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from gateway.cli.patient_auth_cmd import invite
from gateway.patientauth.server import REUSE_GRACE_SECONDS
from tests.gateway.conftest import fetch_token
from tests.gateway.patientauth.conftest import ALICE, MRN_SYSTEM, add_patient
from tests.gateway.patientauth.flow import Launch, code_with_invitation, exchange, refresh
from tests.gateway.replicas.conftest import Replicas

TABS = 6


@pytest.fixture
def session(replicas: Replicas) -> dict[str, Any]:
    add_patient(replicas.a, fetch_token(replicas.a, replicas.member, replicas.clock.now), ALICE)
    issued = invite(replicas.settings, MRN_SYSTEM, ALICE, replicas.clock.now)
    assert issued is not None
    launch = Launch.new(replicas.settings.public_url)
    answer = exchange(replicas.a, launch, code_with_invitation(replicas.a, launch, issued.code))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def ended(http: httpx.Client, token: str) -> bool:
    answer = refresh(http, token)
    return answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_tabs_refreshing_at_once_on_two_replicas_keep_the_session(
    replicas: Replicas, session: dict[str, Any]
) -> None:
    tabs = [replicas.a if n % 2 else replicas.b for n in range(TABS)]
    with ThreadPoolExecutor(TABS) as pool:
        answers = list(pool.map(lambda http: refresh(http, session["refresh_token"]), tabs))
    assert [a.status_code for a in answers] == [200] * TABS, [a.text for a in answers]
    successors = {a.json()["refresh_token"] for a in answers}
    assert len(successors) == 1
    assert all(a.json()["access_token"] for a in answers)
    # The session goes on: the successor refreshes (once), at either replica.
    (successor,) = successors
    replicas.clock.now += 60
    assert refresh(replicas.a, successor).status_code == 200


def test_reuse_after_the_grace_window_ends_the_session(
    replicas: Replicas, session: dict[str, Any]
) -> None:
    renewed = refresh(replicas.a, session["refresh_token"])
    assert renewed.status_code == 200
    replicas.clock.now += REUSE_GRACE_SECONDS
    again = refresh(replicas.b, session["refresh_token"])  # still within the window
    assert again.status_code == 200
    assert again.json()["refresh_token"] == renewed.json()["refresh_token"]
    replicas.clock.now += 1
    assert ended(replicas.b, session["refresh_token"])
    assert ended(replicas.a, renewed.json()["refresh_token"])  # the whole session


def test_reuse_once_the_successor_was_spent_ends_the_session(
    replicas: Replicas, session: dict[str, Any]
) -> None:
    renewed = refresh(replicas.a, session["refresh_token"]).json()
    newest = refresh(replicas.b, renewed["refresh_token"])
    assert newest.status_code == 200
    assert ended(replicas.a, session["refresh_token"])  # within the window, but not a tab's race
    assert ended(replicas.b, newest.json()["refresh_token"])
