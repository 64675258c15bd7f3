"""A client registered by JWKS URL: fetched from a real HTTP server on loopback, cached by kid,
refetched for a new kid at most once per MIN_REFETCH_SECONDS, bounded in time and size."""

from __future__ import annotations

import functools
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.app import create_app
from gateway.auth.jwks import MIN_REFETCH_SECONDS, JwksUnavailable, RemoteJwks, http_fetch
from gateway.auth.keys import kid_of
from gateway.errors import AuthError, ConfigError
from gateway.settings import Settings
from ledger.ids import Kid
from tests.gateway.member import ManualClock, write_member
from tests.gateway.serve import serve

TOKEN_URL = "http://testserver/auth/token"


@dataclass
class JwksState:
    """What the loopback JWKS server answers, and what it was asked."""

    body: bytes = b'{"keys": []}'
    status: int = 200
    delay: float = 0.0
    location: str | None = None
    fetches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(state: JwksState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.fetches += 1
            if state.location is not None:
                self.send_response(302)
                self.send_header("Location", state.location)
                self.end_headers()
                return
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            if state.delay:
                self.wfile.write(state.body[:10])
                self.wfile.flush()
                time.sleep(state.delay)
            self.wfile.write(state.body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, JwksState]]:
    state = JwksState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def jwks_of(*keys: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    out = []
    for key in keys:
        algorithm = (
            pyjwt.algorithms.RSAAlgorithm
            if isinstance(key, rsa.RSAPrivateKey)
            else pyjwt.algorithms.ECAlgorithm
        )
        jwk = orjson.loads(algorithm.to_jwk(key.public_key()))
        out.append({**jwk, "kid": kid_of(key.public_key())})
    return orjson.dumps({"keys": out})


def assertion(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, alg: str, now: int) -> str:
    claims = {
        "iss": "ehr",
        "sub": "ehr",
        "aud": TOKEN_URL,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(12),
    }
    return pyjwt.encode(claims, key, algorithm=alg, headers={"kid": kid_of(key.public_key())})


def ask(http: httpx.Client, signed: str) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": signed,
        "scope": "system/*.read",
    }
    return http.post("/auth/token", data=form)


@pytest.fixture
def gateway(
    tmp_path: Path, jwks_server: tuple[str, JwksState], clock: ManualClock
) -> Iterator[httpx.Client]:
    """A gateway whose ehr client is registered by jwks_url (medgate.toml edited as an operator
    would)."""
    url, _ = jwks_server
    member = write_member(tmp_path)
    config = member.config.read_text(encoding="utf-8")
    member.config.write_text(
        config.replace('jwks_path = "clients/ehr.jwks.json"', f'jwks_url = "{url}"'),
        encoding="utf-8",
    )
    settings = Settings.load(member.config)
    assert settings.clients[0].jwks_url == url
    with serve(create_app(settings, clock=clock)) as base, httpx.Client(base_url=base) as http:
        yield http


def test_keys_are_fetched_once_and_cached_by_kid(
    gateway: httpx.Client, jwks_server: tuple[str, JwksState], clock: ManualClock
) -> None:
    _, state = jwks_server
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p384 = ec.generate_private_key(ec.SECP384R1())
    state.body = jwks_of(rsa_key, p384)
    assert ask(gateway, assertion(rsa_key, "RS384", clock.now)).status_code == 200
    assert ask(gateway, assertion(p384, "ES384", clock.now)).status_code == 200
    assert ask(gateway, assertion(rsa_key, "RS384", clock.now)).status_code == 200
    assert state.fetches == 1


def test_a_new_kid_refetches_at_most_once_per_interval(
    gateway: httpx.Client, jwks_server: tuple[str, JwksState], clock: ManualClock
) -> None:
    _, state = jwks_server
    old, new = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP384R1())
    state.body = jwks_of(old)
    assert ask(gateway, assertion(old, "ES256", clock.now)).status_code == 200
    state.body = jwks_of(new)  # the client rotates its key
    for _ in range(3):  # made-up or not yet published kids: no fetch storm
        refused = ask(gateway, assertion(new, "ES384", clock.now))
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_client"
    assert state.fetches == 1
    clock.now += MIN_REFETCH_SECONDS
    assert ask(gateway, assertion(new, "ES384", clock.now)).status_code == 200
    assert state.fetches == 2
    refused = ask(gateway, assertion(old, "ES256", clock.now))  # removed from the JWKS: gone
    assert refused.status_code == 401


def test_an_unreadable_jwks_url_refuses_the_client(
    gateway: httpx.Client, jwks_server: tuple[str, JwksState], clock: ManualClock
) -> None:
    _, state = jwks_server
    key = ec.generate_private_key(ec.SECP256R1())
    state.status = 500
    refused = ask(gateway, assertion(key, "ES256", clock.now))
    assert refused.status_code == 401
    assert refused.json() == {
        "error": "invalid_client",
        "error_description": "the client's JWKS URL could not be read",
    }


def test_fetch_bounds(jwks_server: tuple[str, JwksState]) -> None:
    url, state = jwks_server
    state.body = b'{"keys": [' + b" " * 2000 + b"]}"
    assert http_fetch(url, max_bytes=4096) == state.body
    with pytest.raises(JwksUnavailable, match="larger than 1024 bytes"):
        http_fetch(url, max_bytes=1024)
    state.delay = 1.0
    with pytest.raises(JwksUnavailable):
        http_fetch(url, timeout=0.3)
    state.delay, state.location = 0.0, url
    with pytest.raises(JwksUnavailable):  # redirects are not followed
        http_fetch(url)


def test_a_private_key_in_the_remote_jwks_is_refused(jwks_server: tuple[str, JwksState]) -> None:
    url, state = jwks_server
    key = ec.generate_private_key(ec.SECP256R1())
    state.body = orjson.dumps({"keys": [orjson.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(key))]})
    source = RemoteJwks("ehr", url, functools.partial(http_fetch, timeout=2))
    with pytest.raises(AuthError):
        source.key(Kid(kid_of(key.public_key())), 0)


@pytest.mark.parametrize(
    "replacement",
    [
        'jwks_path = "clients/ehr.jwks.json"\njwks_url = "http://127.0.0.1:9/jwks.json"',
        "",
        'jwks_url = "file:///etc/passwd"',
    ],
)
def test_a_client_names_exactly_one_http_key_source(tmp_path: Path, replacement: str) -> None:
    member = write_member(tmp_path)
    config = member.config.read_text(encoding="utf-8")
    member.config.write_text(
        config.replace('jwks_path = "clients/ehr.jwks.json"', replacement), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="clients"):
        Settings.load(member.config)
