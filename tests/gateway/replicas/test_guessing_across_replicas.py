"""Guessing invitation codes across replicas: wrong attempts from one client address are counted
by the member, not by the replica that saw them. Wrong codes spread over replicas A and B lock the
address out at both (429 with Retry-After, even for the right code) once they add up to
``max_failures``; after the lockout the right code works at either."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gateway.cli.patient_auth_cmd import invite
from tests.gateway.conftest import fetch_token
from tests.gateway.patientauth.conftest import ALICE, MRN_SYSTEM, add_patient
from tests.gateway.patientauth.flow import Launch, authorize, code_with_invitation
from tests.gateway.replicas.conftest import Replicas

INVITATION = "/patient/authorize/invitation"


def wrong_code(n: int) -> str:
    return f"AAAA-AAAA-AAAA-AAAA-AAAA-AA{n:02d}".replace("0", "2").replace("1", "3")


@pytest.fixture
def invited(replicas: Replicas) -> str:
    add_patient(replicas.a, fetch_token(replicas.a, replicas.member, replicas.clock.now), ALICE)
    issued = invite(replicas.settings, MRN_SYSTEM, ALICE, replicas.clock.now)
    assert issued is not None
    return issued.code


def assert_locked_out(answer: httpx.Response, lockout: int) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.json()["issue"][0]["code"] == "throttled"
    assert 0 < int(answer.headers["retry-after"]) <= lockout


def test_wrong_codes_spread_over_replicas_lock_the_address_out_at_both(
    replicas: Replicas, invited: str
) -> None:
    conf = replicas.settings.patient_auth
    launch = Launch.new(replicas.settings.public_url)
    handle = authorize(replicas.a, launch)  # signed with the member's key: good at both
    for n in range(conf.max_failures):
        replica = replicas.a if n % 2 == 0 else replicas.b
        answer = replica.post(INVITATION, data={"request": handle, "code": wrong_code(n)})
        assert answer.status_code == 401, answer.text
    for replica in (replicas.b, replicas.a):
        locked = replica.post(INVITATION, data={"request": handle, "code": invited})
        assert_locked_out(locked, conf.lockout_seconds)
    replicas.clock.now += conf.lockout_seconds
    code_with_invitation(replicas.b, launch, invited)


def test_wrong_codes_sent_to_both_replicas_at_once_are_all_counted(
    replicas: Replicas, invited: str
) -> None:
    conf = replicas.settings.patient_auth
    launch = Launch.new(replicas.settings.public_url)
    handle = authorize(replicas.b, launch)
    senders = [(replicas.a if n % 2 else replicas.b, n) for n in range(conf.max_failures)]

    def guess(sender: tuple[httpx.Client, int]) -> int:
        http, n = sender
        return http.post(INVITATION, data={"request": handle, "code": wrong_code(n)}).status_code

    with ThreadPoolExecutor(len(senders)) as pool:
        assert list(pool.map(guess, senders)) == [401] * conf.max_failures
    locked = replicas.a.post(INVITATION, data={"request": handle, "code": invited})
    assert_locked_out(locked, conf.lockout_seconds)
