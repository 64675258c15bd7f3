"""The lean ES256 JWT path: interoperable with joserfc both ways, the same claim rules, and the
access-token cache that never outlives a token's validity window."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from gateway.auth import jwt
from gateway.auth.keys import kid_of
from gateway.auth.replay import MemoryReplayCache
from gateway.auth.smart import Client, TokenService
from gateway.errors import AuthError
from tests.gateway import forge
from tests.gateway.member import T0, new_key

AUD = "http://custodian"
ISSUER = "http://gateway"
LEEWAY = jwt.LEEWAY_SECONDS


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "iss": "peer",
        "sub": "peer",
        "aud": AUD,
        "iat": T0,
        "exp": T0 + 60,
        "jti": secrets.token_urlsafe(12),
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


EXPECT = jwt.Expect(issuer="peer", audience=AUD)


def test_joserfc_verifies_lean_tokens() -> None:
    key = new_key()
    token = jwt.sign(claims(), key, kid_of(key.public_key()))
    decoded = jose_jwt.decode(
        token, ECKey(key.public_key(), key.public_key()), algorithms=["ES256"]
    )
    assert decoded.header["alg"] == "ES256"
    assert decoded.header["kid"] == kid_of(key.public_key())
    assert decoded.claims["aud"] == AUD


def test_lean_path_verifies_joserfc_tokens() -> None:
    key = new_key()
    header = {"alg": "ES256", "kid": kid_of(key.public_key())}
    token = jose_jwt.encode(header, claims(), ECKey(key, key), algorithms=["ES256"])
    assert jwt.verify(token, key.public_key(), EXPECT, T0)["iss"] == "peer"


def test_joserfc_refuses_what_the_lean_path_refuses_tampered() -> None:
    key = new_key()
    forged = forge.tamper(jwt.sign(claims(), key, kid_of(key.public_key())), sub="other")
    with pytest.raises(AuthError):
        jwt.verify(forged, key.public_key(), EXPECT, T0)
    with pytest.raises(JoseError):
        jose_jwt.decode(forged, ECKey(key.public_key(), key.public_key()), algorithms=["ES256"])


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": T0 - LEEWAY},  # expired, leeway spent (exp <= now - leeway)
        {"iat": T0 + LEEWAY + 1, "exp": T0 + LEEWAY + 60},  # issued in the future
        {"nbf": T0 + LEEWAY + 1},
        {"exp": float("nan")},
        {"exp": True},
        {"iat": "1800000000"},
        {"aud": [AUD]},  # one audience, as a string, only
        {"aud": None},
        {"iss": "other"},
        {"sub": "other"},
        {"jti": ""},
        {"jti": 7},
        {"jti": None},
        {"iat": None},
        {"exp": T0 + 301},  # lifetime over 5 minutes
    ],
)
def test_claim_rules(changes: dict[str, Any]) -> None:
    key = new_key()
    token = jwt.sign(claims(**changes), key, kid_of(key.public_key()))
    with pytest.raises(AuthError):
        jwt.verify(token, key.public_key(), EXPECT, T0)


def test_leeway_edges_match_the_window() -> None:
    key = new_key()
    body = claims(iat=T0, nbf=T0 + 10, exp=T0 + 60)
    token = jwt.sign(body, key, kid_of(key.public_key()))
    first, last = jwt.valid_window(body, EXPECT)
    for now in (int(first) - 1, int(first), int(last) - 1, int(last)):
        accepted = first <= now < last
        if accepted:
            jwt.verify(token, key.public_key(), EXPECT, now)
        else:
            with pytest.raises(AuthError):
                jwt.verify(token, key.public_key(), EXPECT, now)


@pytest.mark.parametrize(
    "token",
    [
        "a.b",
        "a.b.c.d",
        "x" * 9000,
        forge.alg_none("kid", claims()),
        forge.unsigned({"alg": "ES256"}, claims()) + ".AAAA",  # no kid
        forge.unsigned({"alg": "ES256", "kid": "k", "crit": ["b64"]}, claims()) + ".AAAA",
        forge.unsigned({"alg": "ES256", "kid": "k"}, claims()) + ".AA+/",  # other alphabet
        forge.unsigned({"alg": "ES256", "kid": "k"}, claims()) + ".AAAA=",  # padding
    ],
)
def test_malformed_or_unpinned_tokens_refused_before_any_key(token: str) -> None:
    with pytest.raises(AuthError):
        jwt.parse(token)


def test_signature_of_another_length_refused() -> None:
    key = new_key()
    head, body, _ = jwt.sign(claims(), key, kid_of(key.public_key())).split(".")
    with pytest.raises(AuthError):
        jwt.verify(f"{head}.{body}.{forge.b64(bytes(63))}", key.public_key(), EXPECT, T0)


def _tokens() -> tuple[TokenService, str]:
    client_key, token_key = new_key(), new_key()
    service = TokenService(
        public_url=ISSUER,
        clients={
            "ehr": Client(
                "ehr",
                {kid_of(client_key.public_key()): client_key.public_key()},
                ("system/*.read",),
            )
        },
        token_key=token_key,
        replay=MemoryReplayCache(),
    )
    body = {
        "iss": ISSUER,
        "aud": ISSUER,
        "sub": "ehr",
        "scope": "system/*.read",
        "iat": T0,
        "exp": T0 + 300,
        "jti": "j-1",
    }
    return service, jwt.sign(body, token_key, kid_of(token_key.public_key()))


def test_cached_access_token_expires_exactly_as_a_verified_one() -> None:
    service, token = _tokens()
    assert service.check(token, T0).client_id == "ehr"
    assert service.check(token, T0 + 300 + LEEWAY - 1).client_id == "ehr"  # a cache hit
    with pytest.raises(AuthError):
        service.check(token, T0 + 300 + LEEWAY)


def test_cached_access_token_not_valid_before_its_window() -> None:
    service, token = _tokens()
    service.check(token, T0)
    with pytest.raises(AuthError):  # a clock set back before iat - leeway
        service.check(token, T0 - LEEWAY - 1)


def test_cache_is_keyed_by_the_exact_token() -> None:
    service, token = _tokens()
    service.check(token, T0)
    with pytest.raises(AuthError):
        service.check(forge.tamper(token, scope="system/*.*"), T0)
    head, body, signature = token.split(".")
    flipped = signature[:10] + ("B" if signature[10] != "B" else "C") + signature[11:]
    with pytest.raises(AuthError):
        service.check(f"{head}.{body}.{flipped}", T0)
