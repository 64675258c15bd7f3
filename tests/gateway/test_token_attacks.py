"""Item 6: each token attack gets 401 with an OperationOutcome, on peer assertions and access tokens."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth import jwt
from gateway.auth.keys import kid_of
from gateway.auth.peer import MemoryDirectory, make_peer_assertion
from tests.gateway import forge
from tests.gateway.conftest import fetch_token
from tests.gateway.member import ManualClock, Member, new_key

CUSTODIAN = "http://testserver"
PEER = "hospital-b"
OTHER = "insurer-c"


class Peers:
    def __init__(self, directory: MemoryDirectory) -> None:
        self.key, self.other_key = new_key(), new_key()
        self.kid = directory.put(PEER, self.key.public_key())
        directory.put(OTHER, self.other_key.public_key())

    def claims(self, now: int, **changes: Any) -> dict[str, Any]:
        base = {
            "iss": PEER,
            "sub": PEER,
            "aud": CUSTODIAN,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(12),
            "organization_id": PEER,
            "purpose_of_use": "TREAT",
        }
        return {**base, **changes}

    def sign(self, claims: dict[str, Any], key: ec.EllipticCurvePrivateKey | None = None) -> str:
        key = key or self.key
        return jwt.sign(claims, key, kid_of(key.public_key()))


@pytest.fixture
def peers(directory: MemoryDirectory) -> Peers:
    return Peers(directory)


Attack = Callable[[Peers, int], str]

PEER_ATTACKS: dict[str, Attack] = {
    "alg-none": lambda p, now: forge.alg_none(p.kid, p.claims(now)),
    "hs256-public-pem": lambda p, now: forge.hs256_with_public_key(
        p.kid, p.claims(now), p.key.public_key(), "pem"
    ),
    "hs256-public-der": lambda p, now: forge.hs256_with_public_key(
        p.kid, p.claims(now), p.key.public_key(), "der"
    ),
    "expired": lambda p, now: p.sign(p.claims(now, iat=now - 200, exp=now - 100)),
    "not-yet-valid": lambda p, now: p.sign(p.claims(now, nbf=now + 120, exp=now + 180)),
    "issued-in-future": lambda p, now: p.sign(p.claims(now, iat=now + 120, exp=now + 180)),
    "wrong-aud": lambda p, now: p.sign(p.claims(now, aud="http://elsewhere")),
    "several-auds": lambda p, now: p.sign(p.claims(now, aud=[CUSTODIAN, "http://elsewhere"])),
    "wrong-iss": lambda p, now: p.sign(p.claims(now, iss=OTHER)),
    "wrong-sub": lambda p, now: p.sign(p.claims(now, sub=OTHER)),
    "org-id-mismatch": lambda p, now: p.sign(p.claims(now, organization_id=OTHER)),
    "unknown-kid": lambda p, now: p.sign(p.claims(now), new_key()),
    "tampered-payload": lambda p, now: forge.tamper(p.sign(p.claims(now)), purpose_of_use="HPAYMT"),
    "other-members-token": lambda p, now: make_peer_assertion(
        p.other_key, org=OTHER, audience="http://insurer-c-custodian", purpose="TREAT", now=now
    ),
    "lifetime-over-5-min": lambda p, now: p.sign(p.claims(now, exp=now + 600)),
    "no-jti": lambda p, now: p.sign({k: v for k, v in p.claims(now).items() if k != "jti"}),
    "no-purpose": lambda p, now: p.sign(p.claims(now, purpose_of_use=None)),
}


def assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "login"


def whoami(client: httpx.Client, token: str) -> httpx.Response:
    return client.get("/exchange/whoami", headers={"Authorization": f"Bearer {token}"})


def test_valid_assertion_is_accepted(
    client: httpx.Client, peers: Peers, clock: ManualClock
) -> None:
    token = make_peer_assertion(
        peers.key, org=PEER, audience=CUSTODIAN, purpose="TREAT", now=clock.now, consent_ref="c-1"
    )
    response = whoami(client, token)
    assert response.status_code == 200, response.text
    assert response.json() | {"jti": None} == {
        "org": PEER,
        "purpose_of_use": "TREAT",
        "consent_reference": "c-1",
        "jti": None,
    }


@pytest.mark.parametrize("attack", sorted(PEER_ATTACKS))
def test_peer_attack_refused(
    client: httpx.Client, peers: Peers, clock: ManualClock, attack: str
) -> None:
    assert_401(whoami(client, PEER_ATTACKS[attack](peers, clock.now)))


def test_replayed_jti_refused(client: httpx.Client, peers: Peers, clock: ManualClock) -> None:
    token = peers.sign(peers.claims(clock.now))
    assert whoami(client, token).status_code == 200
    assert_401(whoami(client, token))
    clock.now += 30  # still within the token's life: the jti is remembered
    assert_401(whoami(client, token))


def test_missing_and_malformed_bearer(client: httpx.Client) -> None:
    assert_401(client.get("/exchange/whoami"))
    assert_401(whoami(client, "a.b"))
    assert_401(whoami(client, "x" * 9000))


ACCESS_ATTACKS: dict[str, Callable[[str, ec.EllipticCurvePrivateKey, int], str]] = {
    "alg-none": lambda tok, key, now: forge.alg_none(kid_of(key.public_key()), _claims_of(tok)),
    "hs256-public-pem": lambda tok, key, now: forge.hs256_with_public_key(
        kid_of(key.public_key()), _claims_of(tok), key.public_key(), "pem"
    ),
    "hs256-public-der": lambda tok, key, now: forge.hs256_with_public_key(
        kid_of(key.public_key()), _claims_of(tok), key.public_key(), "der"
    ),
    "tampered-scope": lambda tok, key, now: forge.tamper(tok, scope="system/*.*"),
    "another-gateways-token": lambda tok, key, now: _other_gateway_token(tok),
}


def _claims_of(token: str) -> dict[str, Any]:
    import base64

    import orjson

    payload = token.split(".")[1]
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert isinstance(claims, dict)
    return claims


def _other_gateway_token(token: str) -> str:
    # Same claims, signed by another gateway's token key: valid there, worthless here.
    other = new_key()
    return jwt.sign(_claims_of(token), other, kid_of(other.public_key()))


@pytest.mark.parametrize("attack", sorted(ACCESS_ATTACKS))
def test_access_token_attack_refused(
    client: httpx.Client, member: Member, clock: ManualClock, attack: str
) -> None:
    genuine = fetch_token(client, member, clock.now, scope="system/Patient.read")
    forged = ACCESS_ATTACKS[attack](genuine, member.token_key, clock.now)
    response = client.get("/fhir/Observation", headers={"Authorization": f"Bearer {forged}"})
    assert_401(response)
