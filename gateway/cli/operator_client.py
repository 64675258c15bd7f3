"""The operator's tool talking to its own gateway as a SMART Backend Services client.

It signs a client assertion with the operator client's key (``clients/<id>.key`` beside the
member's medgate.toml), trades it for an access token naming ``system/Ledger.read`` and
``system/Ledger.write``, and calls the gateway. It never reads the member's signing key: the
gateway signs governance messages itself.
"""

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
from gateway.auth.scopes import parse_all
from gateway.settings import Settings

OPERATOR_SCOPES = "system/Ledger.read system/Ledger.write"
TIMEOUT_S = 60.0


class OperatorError(Exception):
    """The tool cannot act: no operator client registered, key unreadable, gateway unreachable."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any

    @property
    def problem(self) -> str:
        """The OperationOutcome's diagnostics (or the raw body) of a refusal."""
        if isinstance(self.body, dict) and self.body.get("resourceType") == "OperationOutcome":
            issues = self.body.get("issue") or [{}]
            return "; ".join(str(i.get("diagnostics", i.get("code", ""))) for i in issues)
        return str(self.body)


def operator_client_id(settings: Settings, wanted: str | None) -> str:
    """``wanted``, or the first registered client allowed ``system/Ledger.write`` by name."""
    for client in settings.clients:
        if wanted is not None and client.client_id != wanted:
            continue
        scopes = parse_all(client.scopes)
        if any(s.resource == "Ledger" and s.action in ("write", "*") for s in scopes):
            return client.client_id
    raise OperatorError(
        "no client of this gateway may use system/Ledger.write: register an operator client "
        "with that scope in medgate.toml (see docs/governance.md)"
    )


class OperatorClient:
    def __init__(self, settings: Settings, client_id: str, key_path: Path) -> None:
        self.base_url = settings.public_url.rstrip("/")
        self.client_id = client_id
        try:
            self._key = load_p256_private(key_path)
        except (OSError, ValueError) as exc:
            raise OperatorError(f"cannot read the operator key {key_path}: {exc}") from exc

    async def call(self, method: str, path: str, body: Any = None) -> Answer:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                token = await self._token(session)
                headers = {"Authorization": f"Bearer {token}"}
                data = None
                if body is not None:
                    headers["Content-Type"] = "application/json"
                    data = orjson.dumps(body)
                async with session.request(
                    method, self.base_url + path, data=data, headers=headers
                ) as resp:
                    raw = await resp.read()
                    return Answer(resp.status, orjson.loads(raw) if raw else None)
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise OperatorError(f"cannot reach the gateway at {self.base_url}: {exc}") from exc

    async def _token(self, session: aiohttp.ClientSession) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": f"{self.base_url}/auth/token",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        }
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": jwt.sign(claims, self._key, kid_of(self._key.public_key())),
            "scope": OPERATOR_SCOPES,
        }
        async with session.post(f"{self.base_url}/auth/token", data=form) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200:
                raise OperatorError(f"the gateway refused the operator's token: {body}")
        return str(body["access_token"])
