"""Two replicas of one member: two gateway apps on their own loopback sockets over one real
PostgreSQL database (the member's FHIR store), sharing one member folder, clock and registry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.auth.peer import MemoryDirectory
from gateway.settings import Settings
from tests.gateway.member import ManualClock, Member, write_member
from tests.gateway.serve import serve


@dataclass
class Replicas:
    member: Member
    settings: Settings
    clock: ManualClock
    directory: MemoryDirectory
    a: httpx.Client
    b: httpx.Client


@pytest.fixture
def replicas(tmp_path: Path, pg_url: str) -> Iterator[Replicas]:
    member = write_member(tmp_path, storage_url=pg_url)
    settings = Settings.load(member.config)
    clock, directory = ManualClock(), MemoryDirectory()
    app_a = create_app(settings, directory=directory, clock=clock)
    app_b = create_app(settings, directory=directory, clock=clock)
    with (
        serve(app_a) as url_a,
        serve(app_b) as url_b,
        httpx.Client(base_url=url_a, timeout=30) as a,
        httpx.Client(base_url=url_b, timeout=30) as b,
    ):
        yield Replicas(member, settings, clock, directory, a, b)
