"""SMART Backend Services: client assertions (private_key_jwt: ES256, ES384 or RS384) in, access
tokens (ES256) out. Refusals are OAuthErrors (RFC 6749 section 5.2 bodies).

Access tokens are ES256 JWTs signed by the gateway's token key (iss = aud = public_url, sub = client
id, 5 min). They need no server-side table, so N replicas sharing the token key all accept them; the
price is that one cannot be revoked before it expires, which the 5-minute lifetime bounds.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth import jwt, scopes
from gateway.auth.replay import ReplayCache
from gateway.auth.token_keys import TokenKeys
from gateway.errors import AuthError, OAuthCode, OAuthError
from ledger.ids import Kid

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_ALGORITHMS = frozenset(jwt.CLIENT_ALGORITHMS)
TOKEN_LIFETIME_SECONDS = 300
MAX_VERIFIED_TOKENS = 10_000
"""Verified access tokens remembered (each until its expiry); past it, expired ones are dropped."""


class KeySource(Protocol):
    """A client's registered public keys: a JWKS file read at start, or a JWKS URL."""

    def key(self, kid: Kid, now: int) -> jwt.PublicKey | None: ...


@dataclass(frozen=True, slots=True)
class StaticKeys:
    """Keys read once (from the client's JWKS file)."""

    keys: Mapping[Kid, jwt.PublicKey]

    def key(self, kid: Kid, now: int) -> jwt.PublicKey | None:
        return self.keys.get(kid)


@dataclass(frozen=True, slots=True)
class Client:
    """A registered backend client: its public keys by kid and the scopes it may ever get."""

    client_id: str
    keys: KeySource
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """What a verified access token allows."""

    client_id: str
    scopes: frozenset[scopes.Scope]
    expires_at: int


_Verified = tuple[float, float, AccessGrant, str]
"""(first, last, grant, kid): the grant of a verified token, valid for first <= now < last while
its key (``kid``) is accepted (a retired token key only until the end of the overlap)."""


class TokenService:
    """Issues access tokens for client assertions and checks them on every request."""

    def __init__(
        self,
        *,
        public_url: str,
        clients: Mapping[str, Client],
        token_key: ec.EllipticCurvePrivateKey | TokenKeys,
        replay: ReplayCache,
    ) -> None:
        """``token_key``: a fixed key, or the gateway's TokenKeys (which follow rotations)."""
        self.issuer = public_url
        self.token_endpoint = f"{public_url}/auth/token"
        self._clients = dict(clients)
        self._keys = token_key if isinstance(token_key, TokenKeys) else TokenKeys(token_key)
        self._verified: dict[bytes, _Verified] = {}
        self._replay = replay

    def exchange(self, form: Mapping[str, str], now: int) -> IssuedToken:
        """Handle a client_credentials token request form. Raises OAuthError."""
        if form.get("grant_type") != "client_credentials":
            raise OAuthError(OAuthCode.UNSUPPORTED_GRANT_TYPE, "only client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise OAuthError(OAuthCode.INVALID_CLIENT, "client_assertion_type must be jwt-bearer")
        try:
            client = self._authenticate(form.get("client_assertion", ""), now)
        except AuthError as exc:
            raise OAuthError(OAuthCode.INVALID_CLIENT, exc.diagnostics) from None
        granted = scopes.grant(form.get("scope", "").split(), client.scopes)
        if not granted:
            raise OAuthError(
                OAuthCode.INVALID_SCOPE, "no requested scope is registered for this client"
            )
        scope = scopes.render(granted)
        claims = {
            "iss": self.issuer,
            "aud": self.issuer,
            "sub": client.client_id,
            "scope": scope,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_SECONDS,
            "jti": secrets.token_urlsafe(16),
        }
        key, kid = self._keys.signer()
        token = jwt.sign(claims, key, kid)
        return IssuedToken(token, TOKEN_LIFETIME_SECONDS, scope)

    def _authenticate(self, assertion: str, now: int) -> Client:
        parsed = jwt.parse(assertion, CLIENT_ALGORITHMS)
        client = self._clients.get(parsed.claim("iss"))
        key = client.keys.key(parsed.kid, now) if client else None
        if client is None or key is None:
            raise AuthError("unknown client or key")
        expect = jwt.Expect(issuer=client.client_id, audience=self.token_endpoint)
        claims = jwt.verify(parsed, key, expect, now)
        expires = int(claims["exp"]) + expect.leeway
        if not self._replay.first_use(f"client:{client.client_id}", claims["jti"], expires, now):
            raise AuthError("client assertion jti replayed")
        return client

    def check(self, access_token: str, now: int) -> AccessGrant:
        """Verify an access token this gateway issued. Raises AuthError."""
        digest = hashlib.sha256(access_token.encode()).digest()
        cached = self._verified.get(digest)
        if cached is not None:
            first, last, grant, kid = cached
            if first <= now < last and self._keys.accepts(kid, now):
                return grant
            # Outside its window: verify afresh, which refuses it with the reason.
        parsed = jwt.parse(access_token)
        public = self._keys.verifier(parsed.kid, now)
        if public is None:  # another issuer's key, or a retired one past the overlap
            raise AuthError("access token not issued by this gateway")
        sub = parsed.claim("sub")
        expect = jwt.Expect(issuer=self.issuer, audience=self.issuer, subject=sub)
        claims = jwt.verify(parsed, public, expect, now)
        if sub not in self._clients:
            raise AuthError("access token of an unregistered client")
        granted = scopes.parse_all(str(claims.get("scope", "")).split())
        grant = AccessGrant(sub, granted, int(claims["exp"]))
        self._remember(digest, (*jwt.valid_window(claims, expect), grant, parsed.kid), now)
        return grant

    def _remember(self, digest: bytes, entry: _Verified, now: int) -> None:
        # A client reuses its access token for its whole life (5 min): verifying the ES256
        # signature once per token, not once per request, is the point. Keyed by the SHA-256 of
        # the exact token text (a changed byte is another key, verified afresh), holding no token.
        # The window is re-checked on every hit, so a cached token expires exactly as a verified
        # one would, and the key's acceptance too (a rotated token key: gateway.auth.token_keys);
        # the registered clients never change in a running app.
        if len(self._verified) >= MAX_VERIFIED_TOKENS:
            self._verified = {d: e for d, e in self._verified.items() if e[1] > now}
            if len(self._verified) >= MAX_VERIFIED_TOKENS // 2:
                self._verified.clear()
        self._verified[digest] = entry
