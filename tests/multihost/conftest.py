"""Fixtures of the multi-host tests: a consortium whose members each run on their own namespace host."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

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
def three_hosts(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[HostConsortium]:
    """hospital-a, hospital-b and insurer on three hosts: a fresh consortium per test (the
    partition and host-loss tests break it)."""
    with HostConsortium(tmp_path_factory.mktemp("multihost"), THREE) as consortium:
        yield consortium
        _keep_logs(consortium, request)


def _keep_logs(consortium: HostConsortium, request: pytest.FixtureRequest) -> None:
    """On a failed test, write every host's process logs beside its temp folder and say where."""
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        # Not under pytest's tmp folders: they are rotated away by later runs.
        path = Path(tempfile.gettempdir()) / f"medgate-multihost-{consortium.network.token}.log"
        path.write_text(consortium.log_tails(2_000_000), encoding="utf-8")
        print(f"multihost logs: {path}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
