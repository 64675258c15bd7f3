"""SMART system scopes: parsing, covering, and the requested-∩-registered grant (vs a naive reference)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.auth.scopes import Action, Scope, allows, grant, parse_all

RESOURCES = ("*", "Patient", "Observation")
ACTIONS = ("*", "read", "write")
ALL = [f"system/{r}.{a}" for r, a in itertools.product(RESOURCES, ACTIONS)]


def test_parse_refuses_other_scope_kinds() -> None:
    assert Scope.parse("system/Patient.read") == Scope("Patient", "read")
    for text in ("patient/*.read", "system/Patient.cruds", "system/patient.read", "openid"):
        assert Scope.parse(text) is None


def test_wildcards_allow() -> None:
    granted = parse_all(["system/*.read", "system/Observation.*"])
    assert allows(granted, "Claim", Action.READ)
    assert allows(granted, "Observation", Action.WRITE)
    assert not allows(granted, "Claim", Action.WRITE)


def test_wildcards_meet() -> None:
    assert grant(["system/Patient.*"], ["system/*.read"]) == {Scope("Patient", "read")}
    assert grant(["system/*.*"], ["system/Claim.write"]) == {Scope("Claim", "write")}
    assert grant(["system/*.read", "system/Patient.read"], ["system/*.*"]) == {Scope("*", "read")}


def _naive_allowed(texts: list[str], resource: str, action: str) -> bool:
    for text in texts:
        r, a = text.removeprefix("system/").split(".")
        if r in ("*", resource) and a in ("*", action):
            return True
    return False


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(ALL), max_size=4), st.lists(st.sampled_from(ALL), max_size=4))
def test_grant_never_exceeds_registration_or_request(
    requested: list[str], registered: list[str]
) -> None:
    granted = grant(requested, registered)
    for resource, action in itertools.product(("Patient", "Observation", "Claim"), ACTIONS[1:]):
        ok = allows(granted, resource, Action(action))
        both = _naive_allowed(requested, resource, action) and _naive_allowed(
            registered, resource, action
        )
        assert ok == both
