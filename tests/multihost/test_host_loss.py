"""Host loss: every process of one member host (its PostgreSQL, NATS server and gateway) is
SIGKILLed during load; restarted from its disks, it loses nothing that was acknowledged, its chain
equals the others', and `medgate ledger verify` passes on every member's PostgreSQL store."""

from __future__ import annotations

import pytest

from tests.e2e.flows import seed
from tests.e2e.gateways import wait_for
from tests.multihost.checks import head_of, verify, wait_converged
from tests.multihost.consortium import HostConsortium
from tests.multihost.load import Exchange, Load

pytestmark = [pytest.mark.multihost, pytest.mark.e2e, pytest.mark.nats, pytest.mark.postgres]


def test_a_member_host_killed_during_load_recovers_everything_acknowledged(
    three_hosts: HostConsortium,
) -> None:
    a, b, insurer = (three_hosts[org] for org in ("hospital-a", "hospital-b", "insurer"))
    at_a = seed(a.gateway, claims=0)
    at_b = seed(b.gateway, claims=0)
    load = Load(
        [
            Exchange(b.gateway, "hospital-a", at_a.national_id, "TREAT", ("Observation",)),
            Exchange(a.gateway, "hospital-b", at_b.national_id, "TREAT", ("Observation",)),
            Exchange(insurer.gateway, "hospital-a", at_a.national_id, "HPAYMT", ("Claim",)),
        ],
        max_requests=600,
        max_seconds=120,
    ).start()
    try:
        wait_for(lambda: len(load.acknowledged) >= 15, "load under way", 60)
        killed = b.lose()  # hospital-b: custodian and requester, its NATS server a replica
        assert killed >= 3  # postmaster (and its workers), nats-server, the gateway
        before = len(load.acknowledged)
        # The other two keep ordering (2 of 3 replicas) while b is gone: insurer -> hospital-a.
        wait_for(lambda: len(load.acknowledged) >= before + 5, "load while b is down", 60)
        b.start()
        wait_for(lambda: load.done() >= before + 30, "load after b is back", 90)
    finally:
        load.stop()
    assert load.acknowledged, load.failures
    assert load.failures, "killing a host during load failed no request: it was not during load"
    height, block = wait_converged(three_hosts, load.acknowledged, timeout=120)
    for member in (a, b, insurer):
        summary = verify(member)
        assert summary["height"] >= height
        assert summary["log_checked"] is True
    # Requests still in flight when the load stopped may commit another block meanwhile: the
    # chains must still end in one same block (its hash chains every block before it).
    final_height, final_block = wait_converged(three_hosts, load.acknowledged, timeout=120)
    assert final_height >= height
    assert {head_of(m) for m in (a, b, insurer)} == {(final_height, final_block)}
    if final_height == height:
        assert final_block == block
