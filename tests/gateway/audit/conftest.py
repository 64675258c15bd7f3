"""One running consortium with the patient's accesses recorded and cosigned, shared by a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.audit.harness import Consortium, populate, running_consortium

GENESIS_AND_ENTRIES = 1 + 5


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running_consortium(tmp_path_factory.mktemp("consortium")) as c:
        populate(c)
        for org in c.urls:
            c.wait_final(org, GENESIS_AND_ENTRIES)
        yield c


@pytest.fixture(scope="module")
def c_alarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    """A consortium of its own (the alarm tests break it), with one final checkpoint."""
    with running_consortium(tmp_path_factory.mktemp("alarm")) as c:
        for org in c.urls:
            c.wait_final(org, 1)
        yield c
