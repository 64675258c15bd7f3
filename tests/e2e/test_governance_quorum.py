"""Governance proposals on a running network of real gateways: MAJORITY, ALL and K_OF_N quorum
rules each met (and not met) by endorsements that every member signs through its own gateway,
the refusals (wrong digest, twice, proposer, after commit, after expiry, an unmeetable rule), and
the operator's CLI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.identity.consortium import MemberSpec
from gateway.identity.files import load_private_key
from ledger.entries import endorse as ledger_endorse
from ledger.ids import OrgId
from ledger.ordering.solo import SoloOrdering
from ledger.proposals import encode_endorsement
from ledger.state import policy, quorum
from ledger.state.membership import member_record
from tests.e2e.gateways import Consortium, Gateway
from tests.e2e.governance import (
    assert_valid_everywhere,
    cli_json,
    endorse,
    listed,
    medgate,
    propose,
    refusal,
    seen_by,
)

pytestmark = pytest.mark.e2e

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-b", "hospital"),
    MemberSpec("insurer-c", "insurer"),
]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    root: Path = tmp_path_factory.mktemp("governance")
    with Consortium(root, MEMBERS) as consortium:
        yield consortium


def _all(net: Consortium) -> list[Gateway]:
    return list(net.gateways.values())


def _same_endpoint(gw: Gateway) -> dict[str, Any]:
    """A member.update that re-registers the member's endpoint (valid, changes nothing served)."""
    return {"org": gw.org, "endpoint": gw.url}


def _set_rule(net: Consortium, rule: dict[str, Any], version: str, endorsers: list[str]) -> int:
    """policy.set keeping the policy document (same digest) with a new quorum rule."""
    a = net["hospital-a"]
    in_force = a.read_state(policy)
    assert in_force is not None
    body = {"version": version, "digest": in_force.digest, "quorum": rule}
    made = propose(a, "policy.set", body)
    assert made.status_code == 200, made.text
    p = made.json()
    for org in endorsers:
        answer = endorse(net[org], p["id"], p["digest"])
        assert answer.status_code == 200, answer.text
    height = assert_valid_everywhere(_all(net), p["digest"])
    for gw in _all(net):
        found = gw.read_state(quorum)
        assert found is not None
        assert found.to_json() == rule
    return height


def test_majority_proposal_through_the_cli(net: Consortium) -> None:
    a, b, c = net["hospital-a"], net["hospital-b"], net["insurer-c"]
    done = medgate(a, "propose", "member.update", "--org", a.org, "--endpoint", a.url, "--json")
    p = cli_json(done)
    assert (p["status"], p["proposer"], p["quorum"]["needed"]) == ("open", a.org, 2)
    assert p["quorum"]["signers"] == [a.org]
    # Visible to every member, the same proposal (the exact tx and its digest).
    for gw in (b, c):
        seen = seen_by(gw, p["id"])
        assert (seen["digest"], seen["tx"]) == (p["digest"], p["tx"])
    listing = medgate(c, "proposals")
    assert listing.returncode == 0, listing.stderr
    assert p["id"] in listing.stdout
    assert "open" in listing.stdout
    # The proposer's own signature already counts: it cannot endorse its own proposal.
    assert "already counts" in refusal(endorse(a, p["id"]), 409)
    # A reviewer who checked another digest is refused, and nothing is signed for it.
    wrong = medgate(b, "endorse", p["id"], "--digest", "0" * 64)
    assert wrong.returncode == 1
    assert "409" in wrong.stderr
    assert listed(b, p["id"])["quorum"]["signers"] == [a.org]
    done = medgate(b, "endorse", p["id"], "--digest", p["digest"])
    assert done.returncode == 0, done.stderr
    assert "quorum met: committed at height" in done.stdout
    height = assert_valid_everywhere(_all(net), p["digest"])
    assert f"height {height}" in done.stdout
    after = listed(c, p["id"])
    assert (after["status"], after["entry"]["height"], after["entry"]["code"]) == (
        "committed",
        height,
        "VALID",
    )
    # Too late: on the ledger already; and hospital-b may not sign twice either.
    assert "already on the ledger" in refusal(endorse(c, p["id"]), 409)
    again = medgate(b, "endorse", p["id"])
    assert again.returncode == 1
    assert "409" in again.stderr


def test_refusals_of_bad_requests(net: Consortium) -> None:
    a, b = net["hospital-a"], net["hospital-b"]
    assert "no such proposal" in refusal(endorse(b, "0123456789abcdef"), 404)
    assert "would refuse" in refusal(propose(a, "member.update", {"org": a.org}), 422)
    # The EHR's system/*.write does not sign governance: Ledger.write must be named.
    request = {"type": "member.update", "body": _same_endpoint(a)}
    answer = a.http.post("/governance/proposals", json=request, headers=a.auth())
    assert "Ledger.write" in refusal(answer, 403)


def test_expired_proposal_is_refused(net: Consortium) -> None:
    a, b = net["hospital-a"], net["hospital-b"]
    made = propose(a, "member.update", _same_endpoint(a), ttl_seconds=1)
    assert made.status_code == 200, made.text
    p = made.json()
    deadline = p["expires_ms"]
    # Bounded: wait until the wall clock passed the expiry (one second at most, plus slack).
    for _ in range(100):
        if time.time() * 1000 > deadline + 50:
            break
        time.sleep(0.05)
    assert "expired" in refusal(endorse(b, p["id"], p["digest"]), 410)
    assert listed(b, p["id"])["status"] == "expired"
    assert b.read_state(lambda s: s.entry_by_tx(p["digest"])) is None


def test_all_rule_then_k_of_n(net: Consortium) -> None:
    a, b, c = net["hospital-a"], net["hospital-b"], net["insurer-c"]
    _set_rule(net, {"rule": "ALL"}, "2026.1-all", ["hospital-b"])
    # ALL: the proposer and one endorser are not enough; the same member twice is refused.
    p = propose(b, "member.update", _same_endpoint(b)).json()
    assert (p["quorum"]["needed"], p["quorum"]["electorate"]) == (3, 3)
    first = endorse(a, p["id"], p["digest"])
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["quorum"]["signers"]) == ("open", [b.org, a.org])
    assert "already endorsed" in refusal(endorse(a, p["id"], p["digest"]), 409)
    assert b.read_state(lambda s: s.entry_by_tx(p["digest"])) is None
    last = endorse(c, p["id"], p["digest"])
    assert last.status_code == 200, last.text
    assert last.json()["status"] == "committed"
    assert_valid_everywhere(_all(net), p["digest"])
    # K_OF_N with k = 3 of 3 (set under ALL: every member endorses).
    _set_rule(net, {"rule": "K_OF_N", "k": 3}, "2026.1-k3", ["hospital-b", "insurer-c"])
    # Removing anyone would leave 2 members for a rule needing 3: refused at proposal time.
    assert "could never be met" in refusal(propose(a, "member.remove", {"org": c.org}), 422)
    too_high = {"version": "2026.1-k4", "digest": "a" * 64, "quorum": {"rule": "K_OF_N", "k": 4}}
    assert "could never be met" in refusal(propose(a, "policy.set", too_high), 422)
    # K_OF_N with k = 2: the proposer and one endorser commit it.
    _set_rule(net, {"rule": "K_OF_N", "k": 2}, "2026.1-k2", ["hospital-b", "insurer-c"])
    p = propose(c, "member.update", _same_endpoint(c)).json()
    assert p["quorum"]["needed"] == 2
    done = endorse(b, p["id"], p["digest"])
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "committed"
    assert_valid_everywhere(_all(net), p["digest"])


def test_refusals_decided_by_state_at_proposal_time(net: Consortium) -> None:
    a, c = net["hospital-a"], net["insurer-c"]
    assert "no member" in refusal(propose(a, "member.remove", {"org": "nobody-here"}), 422)
    assert "no member" in refusal(
        propose(a, "member.update", {"org": "nobody-here", "endpoint": a.url}), 422
    )
    record = c.read_state(lambda s: member_record(s, c.org))
    assert record is not None
    keys = [{k: v for k, v in key.items() if k != "status"} for key in record["signing_keys"]]
    again = {**record, "signing_keys": keys, "status": "active"}
    assert "member already" in refusal(propose(a, "member.add", {"member": again}), 409)


def test_the_proposer_submits_when_the_last_endorser_stopped_first(net: Consortium) -> None:
    """The endorsements reach the stream but their gateways stop before submitting (here: they
    are published as those gateways would, with each member's own key): the proposer's gateway,
    following the stream, sees the quorum met and submits the entry itself."""
    a = net["hospital-a"]
    p = propose(a, "member.update", _same_endpoint(a)).json()
    others = [gw for gw in _all(net) if gw.org != a.org]
    needed = p["quorum"]["needed"] - len(p["quorum"]["signers"])
    assert 0 < needed <= len(others)
    stream = SoloOrdering(a.folder.parent / "consortium" / "proposals.db")
    tx = seen_by(a, p["id"])["tx"]

    async def publish() -> None:
        try:
            for gw in others[:needed]:
                e = ledger_endorse(
                    tx, OrgId(gw.org), load_private_key(gw.folder / "keys" / "signing.key")
                )
                await stream.submit(encode_endorsement(p["digest"], e), f"test:{gw.org}")
        finally:
            await stream.close()

    asyncio.run(publish())
    assert_valid_everywhere(_all(net), p["digest"])
    assert listed(a, p["id"])["status"] == "committed"
