"""Peer identity follows the member registry at once: removal and key rotation refuse the next call."""

from __future__ import annotations

import httpx
import pytest

from gateway.auth.peer import MemoryDirectory, make_peer_assertion
from gateway.auth.replay import MemoryReplayCache
from tests.gateway.member import ManualClock, new_key

CUSTODIAN = "http://testserver"


def call(client: httpx.Client, token: str) -> int:
    response = client.get("/exchange/whoami", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


def test_removed_member_refused_on_next_request(
    client: httpx.Client, directory: MemoryDirectory, clock: ManualClock
) -> None:
    key = new_key()
    directory.put("hospital-b", key.public_key())

    def assertion() -> str:
        return make_peer_assertion(
            key, org="hospital-b", audience=CUSTODIAN, purpose="TREAT", now=clock.now
        )

    assert call(client, assertion()) == 200
    directory.remove("hospital-b")  # the block with member.remove is committed
    assert call(client, assertion()) == 401


def test_rotated_key_refused_new_key_accepted(
    client: httpx.Client, directory: MemoryDirectory, clock: ManualClock
) -> None:
    old, new = new_key(), new_key()
    old_kid = directory.put("hospital-b", old.public_key())
    pending = make_peer_assertion(
        old, org="hospital-b", audience=CUSTODIAN, purpose="TREAT", now=clock.now
    )
    directory.put("hospital-b", new.public_key())  # member.update: rotation
    directory.retire("hospital-b", old_kid)
    assert call(client, pending) == 401  # signed before the rotation, presented after
    fresh = make_peer_assertion(
        new, org="hospital-b", audience=CUSTODIAN, purpose="TREAT", now=clock.now
    )
    assert call(client, fresh) == 200


def test_no_directory_means_peers_denied(tmp_path: object) -> None:
    from gateway.app import create_app
    from gateway.settings import Settings
    from tests.gateway.member import write_member
    from tests.gateway.serve import serve

    assert isinstance(tmp_path, type(tmp_path))
    member = write_member(tmp_path)  # type: ignore[arg-type]
    app = create_app(Settings.load(member.config), clock=ManualClock())
    with serve(app) as base, httpx.Client(base_url=base) as http:
        response = http.get("/exchange/whoami", headers={"Authorization": "Bearer a.b.c"})
        assert response.status_code == 503
        assert response.json()["resourceType"] == "OperationOutcome"


def test_make_peer_assertion_bounds_lifetime() -> None:
    with pytest.raises(ValueError, match="lifetime"):
        make_peer_assertion(new_key(), org="a", audience="b", purpose="TREAT", now=0, lifetime=301)


def test_replay_cache_forgets_only_after_expiry() -> None:
    cache = MemoryReplayCache()
    assert cache.first_use("peer:a", "j1", expires_at=100, now=0)
    assert not cache.first_use("peer:a", "j1", expires_at=100, now=50)
    assert cache.first_use("peer:b", "j1", expires_at=100, now=50)  # scoped per issuer
    assert not cache.first_use("peer:a", "j1", expires_at=100, now=100)
    assert cache.first_use("peer:a", "j2", expires_at=300, now=101)
    assert len(cache) == 1  # j1 of both issuers pruned once expired


def test_replay_cache_full_refuses_rather_than_forgets() -> None:
    cache = MemoryReplayCache(max_entries=2)
    assert cache.first_use("s", "a", 100, 0)
    assert cache.first_use("s", "b", 100, 0)
    assert not cache.first_use("s", "c", 100, 0)
    assert cache.first_use("s", "c", 200, 101)
