"""OpenID Connect federation to the hospital's identity provider: this gateway is the relying
party (authlib's client: discovery, authorization URL with PKCE S256 and nonce, code exchange, ID
token signature and claims checks). The patient's identifier is one configured ID token claim.

Login state (IdP ``state``, ``nonce``, PKCE verifier, the patient app's request handle) is kept in
the member's database by the state's digest; the browser also holds the state in an HttpOnly
cookie, and the callback must present both (no login can be finished in another browser).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authlib.integrations.base_client import OAuthError as AuthlibOAuthError
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from joserfc.errors import JoseError as JoserfcError

from gateway.errors import AuthError, ConfigError, UnavailableError
from gateway.patientauth import pkce
from gateway.patientauth.tables import OIDC_STATES, SignInTables
from gateway.settings import PLACEHOLDERS, OidcSettings

STATE_SECONDS = 600
COOKIE = "medgate_oidc_state"
CALLBACK_PATH = "/patient/oidc/callback"


@dataclass(frozen=True, slots=True)
class OidcLogin:
    url: str
    state: str


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    handle: str
    """The patient app's authorization request handle the login started from."""
    value: str
    """The configured claim's value: the patient's identifier value."""


def _secret(path: Path) -> str:
    """The client secret; ConfigError when the file is missing or empty."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError("patient_auth.oidc.client_secret_path", f"cannot read: {exc}") from exc
    if not secret or secret.lower() in PLACEHOLDERS:
        raise ConfigError(
            "patient_auth.oidc.client_secret_path", "the secret is empty or a placeholder"
        )
    return secret


class OidcFederation:
    """The relying party for ``settings`` at this gateway's ``public_url``."""

    def __init__(self, settings: OidcSettings, public_url: str, tables: SignInTables) -> None:
        self.settings = settings
        self.redirect_uri = f"{public_url}{CALLBACK_PATH}"
        self._tables = tables
        secret = _secret(settings.client_secret_path)
        client: StarletteOAuth2App = OAuth().register(
            "hospital-idp",
            client_id=settings.client_id,
            client_secret=secret,
            server_metadata_url=f"{settings.issuer.rstrip('/')}/.well-known/openid-configuration",
            client_kwargs={
                "scope": settings.scope,
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_basic",
                "timeout": 10,
            },
        )
        self._client = client

    async def start(self, handle: str, now: int) -> OidcLogin:
        """Where to send the browser, and the state to set in its cookie. UnavailableError
        (503) when the IdP cannot be reached."""
        try:
            made: dict[str, Any] = await self._client.create_authorization_url(self.redirect_uri)
        except Exception as exc:  # httpx and authlib errors: the IdP is down or misconfigured
            raise UnavailableError("the identity provider is unavailable") from exc
        state = str(made["state"])
        self._tables.insert(
            OIDC_STATES,
            digest=pkce.digest(state),
            request=handle,
            nonce=str(made.get("nonce", "")),
            verifier=str(made["code_verifier"]),
            expires_at=now + STATE_SECONDS,
            used=0,
        )
        return OidcLogin(str(made["url"]), state)

    async def finish(self, code: str, state: str, cookie: str, now: int) -> OidcIdentity:
        """The identity the IdP vouches for. AuthError (401) for a wrong, replayed or expired
        state, a refused code, or an ID token that fails its checks or lacks the claim."""
        if not state or not hmac.compare_digest(state, cookie):
            raise AuthError("the sign-in did not start in this browser")
        digest = pkce.digest(state)
        row = self._tables.row(OIDC_STATES, digest)
        if row is None or not self._tables.use_once(OIDC_STATES, digest):
            raise AuthError("unknown or used sign-in state")
        if int(row["expires_at"]) <= now:
            raise AuthError("the sign-in took too long; start again")
        claims = await self._claims(code, str(row["verifier"]), str(row["nonce"]))
        value = claims.get(self.settings.claim)
        if not isinstance(value, str) or not value:
            raise AuthError("the identity provider did not give the patient's identifier")
        return OidcIdentity(str(row["request"]), value)

    async def _claims(self, code: str, verifier: str, nonce: str) -> dict[str, Any]:
        try:
            token = await self._client.fetch_access_token(
                self.redirect_uri, code=code, code_verifier=verifier
            )
            info = await self._client.parse_id_token(token, nonce=nonce)
        except (AuthlibOAuthError, JoserfcError, KeyError, ValueError) as exc:
            raise AuthError("the identity provider's answer was refused") from exc
        except Exception as exc:  # network errors talking to the IdP
            raise UnavailableError("the identity provider is unavailable") from exc
        if info is None:
            raise AuthError("the identity provider sent no ID token")
        return dict(info)
