"""Which cluster listener a kit routes to for each member (gateway.deploy.routes): the endpoint's
host on this member's cluster port by default, ``ORG=HOST:PORT`` overrides, the older unnamed
``HOST:PORT`` attributed by host, and entries of members that are not active left out."""

from __future__ import annotations

import pytest

from gateway.deploy.members import KitMember
from gateway.deploy.routes import nats_routes

MEMBERS = [
    KitMember("hospital-a", "https://gw.a.example:8443", b""),
    KitMember("hospital-b", "https://gw.b.example", b""),
    KitMember("insurer", "https://[2001:db8::7]:8443", b""),
]


def test_by_default_each_other_member_on_its_endpoint_host_and_our_cluster_port() -> None:
    found = nats_routes(MEMBERS, "hospital-a", (), "6222")
    assert found.routes == ("gw.b.example:6222", "[2001:db8::7]:6222")
    assert found.warnings == ()


def test_named_entries_override_and_unknown_or_removed_members_are_left_out() -> None:
    given = ("hospital-b=10.0.0.2:7222", "agency-d=10.0.0.9:6222", "hospital-a=10.0.0.1:6222")
    found = nats_routes(MEMBERS, "hospital-a", given, "6222")
    assert found.routes == ("10.0.0.2:7222", "[2001:db8::7]:6222")
    assert len(found.warnings) == 2
    assert "agency-d=10.0.0.9:6222" in found.warnings[0]


def test_unnamed_entries_are_attributed_by_the_endpoints_host() -> None:
    given = ("gw.b.example:7000", "10.9.9.9:6222")  # the second: nobody's host (a removed member)
    found = nats_routes(MEMBERS, "hospital-a", given, "6222")
    assert found.routes == ("gw.b.example:7000", "[2001:db8::7]:6222")
    assert found.warnings == (
        "--nats-peers 10.9.9.9:6222: no other active member has it; left out",
    )


def test_an_unnamed_entry_whose_host_several_members_share_must_be_named() -> None:
    shared = [KitMember(m.org, "https://127.0.0.1:8443", b"") for m in MEMBERS]
    with pytest.raises(ValueError, match="name the member"):
        nats_routes(shared, "hospital-a", ("127.0.0.1:6222",), "6222")
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        nats_routes(MEMBERS, "hospital-a", ("hospital-b=gw.b.example",), "6222")
