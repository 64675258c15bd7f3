"""SMART Backend Services client assertions signed by PyJWT (not medgate's own JWT code): RS384 and
ES384 accepted beside ES256; ``none``, HMAC (keyed with the public key too), keys not registered for
the client, and a key used under another algorithm than its own are refused with invalid_client."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.warnings import InsecureKeyLengthWarning

from gateway.auth import jwt
from gateway.auth.keys import kid_of
from gateway.errors import AuthError
from tests.gateway import forge
from tests.gateway.member import ManualClock, Member

TOKEN_URL = "http://testserver/auth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class Keys:
    """The ehr client's registered keys: RSA 2048 (RS384), P-384 (ES384), P-256 (ES256)."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.p384 = ec.generate_private_key(ec.SECP384R1())
        self.p256 = ec.generate_private_key(ec.SECP256R1())
        self.weak_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key that must be refused

    def jwks(self) -> dict[str, Any]:
        keys = [self.rsa, self.p384, self.p256, self.weak_rsa]
        return {"keys": [public_jwk(k) for k in keys]}


def public_jwk(key: PrivateKey) -> dict[str, Any]:
    """The public JWK as PyJWT writes it, with the SPKI kid."""
    algorithm = pyjwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else None
    public = key.public_key()
    if algorithm is None:
        jwk = orjson.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(public))
    else:
        jwk = orjson.loads(algorithm.to_jwk(public))
    return {**jwk, "kid": kid_of(public)}


@pytest.fixture
def keys(member: Member) -> Keys:
    found = Keys()
    jwks_path = member.config.parent / "clients" / "ehr.jwks.json"
    jwks_path.write_bytes(orjson.dumps(found.jwks()))
    return found


@pytest.fixture
def token_client(keys: Keys, client: httpx.Client) -> httpx.Client:
    return client  # the app is created after the JWKS above is written


def claims(now: int, client_id: str = "ehr") -> dict[str, Any]:
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(12),
    }


def assertion(key: PrivateKey, alg: str, now: int, kid: str | None = None) -> str:
    kid = kid or kid_of(key.public_key())
    return pyjwt.encode(claims(now), key, algorithm=alg, headers={"kid": kid})


def ask(http: httpx.Client, signed: str) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed,
        "scope": "system/Patient.read",
    }
    return http.post("/auth/token", data=form)


@pytest.mark.parametrize(("which", "alg"), [("rsa", "RS384"), ("p384", "ES384"), ("p256", "ES256")])
def test_assertions_signed_by_pyjwt_get_a_token(
    token_client: httpx.Client, keys: Keys, clock: ManualClock, which: str, alg: str
) -> None:
    response = ask(token_client, assertion(getattr(keys, which), alg, clock.now))
    assert response.status_code == 200, response.text
    access = response.json()["access_token"]
    assert pyjwt.get_unverified_header(access)["alg"] == "ES256"  # medgate signs ES256 only
    auth = {"Authorization": f"Bearer {access}"}
    assert token_client.get("/fhir/Patient", headers=auth).status_code == 200


def _hmac_with_public_key(key: PrivateKey, kid: str, now: int) -> str:
    secret = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = forge.unsigned({"alg": "HS384", "kid": kid, "typ": "JWT"}, claims(now))
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha384).digest()
    return f"{signing_input}.{forge.b64(mac)}"


def _p384_as_es256(key: ec.EllipticCurvePrivateKey, kid: str, now: int) -> str:
    """A P-384 signature (SHA-256 digest) under an ES256 header: PyJWT will not make one."""
    signing_input = forge.unsigned({"alg": "ES256", "kid": kid, "typ": "JWT"}, claims(now))
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{forge.b64(r.to_bytes(48, 'big') + s.to_bytes(48, 'big'))}"


def test_refusals(token_client: httpx.Client, keys: Keys, clock: ManualClock) -> None:
    now = clock.now
    rsa_kid, p384_kid = kid_of(keys.rsa.public_key()), kid_of(keys.p384.public_key())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = {
        "none": forge.alg_none(rsa_kid, claims(now)),
        "HS384 keyed with the RSA public key": _hmac_with_public_key(keys.rsa, rsa_kid, now),
        "an unregistered key": assertion(stranger, "RS384", now),
        "an unregistered key under a registered kid": assertion(stranger, "RS384", now, rsa_kid),
        "RS256 (not accepted)": assertion(keys.rsa, "RS256", now),
        "PS384 (not accepted)": assertion(keys.rsa, "PS384", now),
        "the P-384 key claimed as RS384": assertion(keys.rsa, "RS384", now, p384_kid),
        "the P-384 key under ES256": _p384_as_es256(keys.p384, p384_kid, now),
    }
    with pytest.warns(InsecureKeyLengthWarning):  # PyJWT itself warns about such a key
        refused["an RSA key under 2048 bits"] = assertion(keys.weak_rsa, "RS384", now)
    for name, signed in refused.items():
        response = ask(token_client, signed)
        assert response.status_code == 401, name
        assert response.json()["error"] == "invalid_client", name


def test_medgate_s_own_tokens_stay_es256_only(keys: Keys) -> None:
    """Access tokens and peer assertions: ES384 or RS384 never parse, whatever the key."""
    es384 = pyjwt.encode(claims(0), keys.p384, algorithm="ES384", headers={"kid": "k"})
    rs384 = pyjwt.encode(claims(0), keys.rsa, algorithm="RS384", headers={"kid": "k"})
    for token in (es384, rs384):
        with pytest.raises(AuthError, match="ES256 only"):
            jwt.parse(token)


def test_discovery_advertises_the_algorithms(token_client: httpx.Client) -> None:
    body = token_client.get("/.well-known/smart-configuration").json()
    assert body["token_endpoint_auth_signing_alg_values_supported"] == ["ES256", "ES384", "RS384"]


def test_a_jwks_with_a_private_key_is_refused(tmp_path: Path, keys: Keys) -> None:
    from gateway.auth.keys import load_jwks
    from gateway.errors import ConfigError

    private = orjson.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(keys.rsa))
    path = tmp_path / "leaky.json"
    path.write_bytes(orjson.dumps({"keys": [private]}))
    with pytest.raises(ConfigError, match="private key"):
        load_jwks(path)
