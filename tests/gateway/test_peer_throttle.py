"""A peer over its request rate gets 429 with Retry-After; other peers are not affected."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway.app import create_app
from gateway.auth.peer import MemoryDirectory, make_peer_assertion
from gateway.auth.throttle import PeerThrottle
from gateway.errors import RateLimitedError
from gateway.peers.client import PeerResponse
from gateway.peers.errors import PeerRefusal
from gateway.services.outbound import refusal
from gateway.settings import Settings
from tests.gateway.member import ManualClock, new_key
from tests.gateway.serve import serve

CUSTODIAN = "http://testserver"


def throttled(settings: Settings, rate: float, burst: int) -> Settings:
    server = settings.server.model_copy(update={"peer_requests_per_s": rate, "peer_burst": burst})
    return settings.model_copy(update={"server": server})


def test_a_peer_over_its_rate_gets_429_and_the_others_are_served(
    settings: Settings, directory: MemoryDirectory, clock: ManualClock
) -> None:
    keys = {org: new_key() for org in ("hospital-b", "insurer-c")}
    for org, key in keys.items():
        directory.put(org, key.public_key())

    def whoami(http: httpx.Client, org: str) -> httpx.Response:
        token = make_peer_assertion(
            keys[org], org=org, audience=CUSTODIAN, purpose="TREAT", now=clock.now
        )
        return http.get("/exchange/whoami", headers={"Authorization": f"Bearer {token}"})

    app = create_app(throttled(settings, 2, 3), directory=directory, clock=clock)
    with serve(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as http:
        assert [whoami(http, "hospital-b").status_code for _ in range(3)] == [200, 200, 200]
        refused = whoami(http, "hospital-b")
        assert refused.status_code == 429, refused.text
        assert refused.headers["Retry-After"] == "1"
        outcome = refused.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "throttled"
        assert "hospital-b" in outcome["issue"][0]["diagnostics"]
        assert whoami(http, "insurer-c").status_code == 200  # its own bucket
        # An assertion that does not verify is refused as such (401), never counted as a peer's.
        forged = make_peer_assertion(
            new_key(), org="hospital-b", audience=CUSTODIAN, purpose="TREAT", now=clock.now
        )
        answer = http.get("/exchange/whoami", headers={"Authorization": f"Bearer {forged}"})
        assert answer.status_code == 401
        clock.now += 1  # two more requests a second
        assert [whoami(http, "hospital-b").status_code for _ in range(3)] == [200, 200, 429]


def test_the_bucket_refills_to_the_burst_only() -> None:
    clock = ManualClock()
    throttle = PeerThrottle(10, 5, clock)
    clock.now += 3600  # an idle hour never banks more than the burst
    for _ in range(5):
        throttle.admit("hospital-b")
    with pytest.raises(RateLimitedError) as refused:
        throttle.admit("hospital-b")
    assert refused.value.retry_after == 1
    slow = PeerThrottle(0.25, 1, clock)
    slow.admit("hospital-b")
    with pytest.raises(RateLimitedError) as waiting:
        slow.admit("hospital-b")
    assert waiting.value.retry_after == 4


def test_rate_zero_admits_everything() -> None:
    throttle = PeerThrottle(0, 1, ManualClock())
    for _ in range(10_000):
        throttle.admit("hospital-b")


@pytest.mark.parametrize(
    ("sent", "relayed"),
    [("3", "3"), ("999999", "86400"), (None, None), ("Wed, 21 Oct 2026 07:28:00 GMT", None)],
)
def test_the_requesting_gateway_relays_the_custodians_retry_after(
    sent: str | None, relayed: str | None
) -> None:
    body = orjson.dumps(
        {"resourceType": "OperationOutcome", "issue": [{"code": "throttled", "diagnostics": "x"}]}
    )
    headers: dict[str, str] = {} if sent is None else {"retry-after": sent}
    error = refusal(PeerResponse(429, "application/fhir+json", headers, body))
    assert isinstance(error, PeerRefusal)
    assert error.status == 429
    assert dict(error.headers()).get("Retry-After") == relayed
