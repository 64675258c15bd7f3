"""Fixtures of the end-to-end tests: one consortium of real gateway processes for the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.identity.consortium import MemberSpec
from tests.e2e.gateways import Consortium

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-b", "hospital"),
    MemberSpec("insurer", "insurer"),
    MemberSpec("agency", "agency"),
]


@pytest.fixture(scope="session")
def solo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    """hospital-a, hospital-b, insurer and agency on the embedded `solo` ordering."""
    root: Path = tmp_path_factory.mktemp("consortium")
    with Consortium(root, MEMBERS) as consortium:
        yield consortium
