"""Fixtures: a hospital gateway on a loopback socket holding two patients, and invitations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import orjson
import pytest

from gateway.app import create_app
from gateway.cli.patient_auth_cmd import invite
from gateway.settings import Settings
from tests.gateway.conftest import fetch_token
from tests.gateway.member import ManualClock, Member
from tests.gateway.serve import serve

MRN_SYSTEM = "urn:oid:hospital-a:mrn"
ALICE, BOB = "MRN-A-0001", "MRN-B-0002"


@dataclass
class Hospital:
    http: httpx.Client
    settings: Settings
    member: Member
    clock: ManualClock

    def invite(self, value: str = ALICE) -> str:
        issued = invite(self.settings, MRN_SYSTEM, value, self.clock.now)
        assert issued is not None
        return issued.code


def add_patient(http: httpx.Client, token: str, value: str) -> None:
    body = {"resourceType": "Patient", "identifier": [{"system": MRN_SYSTEM, "value": value}]}
    answer = http.post(
        "/fhir/Patient",
        content=orjson.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
    )
    assert answer.status_code == 201, answer.text


@pytest.fixture
def hospital_with(member: Member, clock: ManualClock) -> Iterator[Callable[[str], Hospital]]:
    """Serve the member with extra TOML appended to its config (``""``: none)."""
    stack: list[Iterator[Hospital]] = []

    def start(extra: str) -> Hospital:
        def run() -> Iterator[Hospital]:
            if extra:
                with member.config.open("a", encoding="utf-8") as out:
                    out.write(extra)
            settings = Settings.load(member.config)
            app = create_app(settings, clock=clock)
            with serve(app) as base, httpx.Client(base_url=base, timeout=30) as http:
                token = fetch_token(http, member, clock.now)
                add_patient(http, token, ALICE)
                add_patient(http, token, BOB)
                yield Hospital(http, settings, member, clock)

        gen = run()
        stack.append(gen)
        return next(gen)

    yield start
    for gen in stack:
        next(gen, None)


@pytest.fixture
def hospital(hospital_with: Callable[[str], Hospital]) -> Hospital:
    return hospital_with("")
