"""A member's own EHR talking to its gateway as a SMART Backend Services client (over aiohttp)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from gateway.auth import jwt
from gateway.auth.keys import kid_of, load_p256_private

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class EhrClient:
    """Signs a client assertion with the EHR's key, trades it for an access token, calls the API."""

    def __init__(self, session: aiohttp.ClientSession, member_dir: Path, base_url: str) -> None:
        self._session = session
        self.session = session
        """The HTTP session, for calls made without the EHR's credentials (a patient's app)."""
        self._key = load_p256_private(member_dir / "clients" / "ehr.key")
        self.base_url = base_url
        self._token: tuple[str, float] | None = None

    async def token(self) -> str:
        if self._token is not None and self._token[1] > time.monotonic():
            return self._token[0]
        now = int(time.time())
        claims = {
            "iss": "ehr",
            "sub": "ehr",
            "aud": f"{self.base_url}/auth/token",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        }
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": jwt.sign(claims, self._key, kid_of(self._key.public_key())),
            "scope": "system/*.read system/*.write",
        }
        async with self._session.post(f"{self.base_url}/auth/token", data=form) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200:
                raise RuntimeError(f"token refused: {resp.status} {body}")
        self._token = (body["access_token"], time.monotonic() + int(body["expires_in"]) - 30)
        return str(body["access_token"])

    async def call(
        self, method: str, path: str, body: Any = None, *, bearer: str | None = None
    ) -> Reply:
        headers = {"Authorization": f"Bearer {bearer or await self.token()}"}
        data = None
        if body is not None:
            headers["Content-Type"] = FHIR_JSON if path.startswith("/fhir") else "application/json"
            data = orjson.dumps(body)
        async with self._session.request(
            method, self.base_url + path, data=data, headers=headers
        ) as resp:
            raw = await resp.read()
            parsed = orjson.loads(raw) if raw else None
            return Reply(resp.status, parsed, {k.lower(): v for k, v in resp.headers.items()})

    async def put(self, resource: dict[str, Any]) -> Reply:
        return await self.call(
            "PUT", f"/fhir/{resource['resourceType']}/{resource['id']}", resource
        )
