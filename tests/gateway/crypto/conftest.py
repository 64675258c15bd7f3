"""Members for envelope tests: each with a P-256 signing key and an encryption key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.crypto import keys
from gateway.crypto.envelope import Recipient


@dataclass(frozen=True)
class Member:
    org: str
    signing_key: ec.EllipticCurvePrivateKey
    kid: str
    enc_key: dict[str, str]

    @property
    def recipient(self) -> Recipient:
        return Recipient(self.org, keys.public_jwk(self.enc_key))


def make_member(org: str, pq: bool) -> Member:
    signing = ec.generate_private_key(ec.SECP256R1())
    kid = keys.signing_kid(signing.public_key())
    return Member(org, signing, kid, keys.generate_encryption_key(pq))


class Registry:
    """Members' signing keys, as the gateway's resolver reads them from the ledger's registry."""

    def __init__(self, *members: Member) -> None:
        self._keys = {(m.org, m.kid): m.signing_key.public_key() for m in members}

    def __call__(self, org: str, kid: str) -> ec.EllipticCurvePublicKey | None:
        return self._keys.get((org, kid))


@pytest.fixture(params=[False, True], ids=["classical", "pq"])
def pq(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def hospital(pq: bool) -> Member:
    return make_member("hospital-a", pq)


@pytest.fixture
def insurer(pq: bool) -> Member:
    return make_member("insurer-b", pq)


@pytest.fixture
def agency(pq: bool) -> Member:
    return make_member("agency-c", pq)


@pytest.fixture
def registry(hospital: Member, insurer: Member, agency: Member) -> Registry:
    return Registry(hospital, insurer, agency)
