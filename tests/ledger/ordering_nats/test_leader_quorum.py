"""leader_hears_quorum: a stream info answer counts as the consortium's tail only from a leader that
heard a quorum of the stream's replicas recently (an isolated former leader answers too)."""

from __future__ import annotations

import pytest
from nats.js.api import ClusterInfo, PeerInfo

from ledger.ordering.nats_stream import leader_hears_quorum

MS = 1_000_000  # ns


def peer(
    name: str, *, current: bool = True, active_ms: int | None = 10, offline: bool = False
) -> PeerInfo:
    return PeerInfo(
        name=name,
        current=current,
        offline=offline,
        active=None if active_ms is None else active_ms * MS,
    )


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        (None, True),  # one server, no clustering
        (ClusterInfo(leader="n0", replicas=None), True),  # R1 in a cluster
        (ClusterInfo(leader="n0", replicas=[peer("n1"), peer("n2")]), True),
        (ClusterInfo(leader="n0", replicas=[peer("n1"), peer("n2", current=False)]), True),
        # Cut off: both followers silent for longer than the bound.
        (
            ClusterInfo(
                leader="n0", replicas=[peer("n1", active_ms=9000), peer("n2", active_ms=9000)]
            ),
            False,
        ),
        (
            ClusterInfo(
                leader="n0", replicas=[peer("n1", offline=True), peer("n2", current=False)]
            ),
            False,
        ),
        (
            ClusterInfo(
                leader="n0", replicas=[peer("n1", active_ms=None), peer("n2", current=False)]
            ),
            False,
        ),
        (ClusterInfo(leader=None, replicas=[peer("n1"), peer("n2")]), False),  # no leader
        # R5: the leader and two current followers are a quorum; one is not.
        (
            ClusterInfo(
                leader="n0",
                replicas=[peer("a"), peer("b"), peer("c", current=False), peer("d", current=False)],
            ),
            True,
        ),
        (
            ClusterInfo(
                leader="n0",
                replicas=[
                    peer("a"),
                    peer("b", current=False),
                    peer("c", current=False),
                    peer("d", current=False),
                ],
            ),
            False,
        ),
    ],
)
def test_only_a_leader_hearing_a_quorum_confirms(
    cluster: ClusterInfo | None, expected: bool
) -> None:
    assert leader_hears_quorum(cluster, max_silence_s=3.0) is expected
