"""Fixtures of the multi-host tests: a consortium whose members each run on their own namespace host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.identity.consortium import MemberSpec
from tests.multihost.consortium import HostConsortium

FOUR = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-b", "hospital"),
    MemberSpec("insurer", "insurer"),
    MemberSpec("agency", "agency"),
]
THREE = FOUR[:3]


@pytest.fixture(scope="module")
def four_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostConsortium]:
    """hospital-a, hospital-b, insurer and agency, each on its own host."""
    with HostConsortium(tmp_path_factory.mktemp("multihost"), FOUR) as consortium:
        yield consortium


@pytest.fixture
def three_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostConsortium]:
    """hospital-a, hospital-b and insurer on three hosts: a fresh consortium per test (the
    partition and host-loss tests break it)."""
    with HostConsortium(tmp_path_factory.mktemp("multihost"), THREE) as consortium:
        yield consortium
