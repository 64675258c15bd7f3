"""Test support: a patient app's side of sign-in (SMART standalone launch, code + PKCE) over HTTP."""

from __future__ import annotations

import html
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from gateway.cli.patient_auth_cmd import invite
from gateway.patientauth.pkce import s256
from gateway.settings import Settings

PORTAL = "medgate-portal"
SCOPE = "launch/patient patient/*.read patient/Consent.write"
_HANDLE = re.compile(r'name="request" value="([^"]+)"')


@dataclass
class Launch:
    """One authorization request: its PKCE verifier, state and redirect URI."""

    redirect_uri: str
    verifier: str
    state: str
    client_id: str = PORTAL

    @classmethod
    def new(cls, public_url: str) -> Launch:
        return cls(f"{public_url}/portal", secrets.token_urlsafe(48), secrets.token_urlsafe(16))

    def params(self, **override: str) -> dict[str, str]:
        base = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": SCOPE,
            "state": self.state,
            "code_challenge": s256(self.verifier),
            "code_challenge_method": "S256",
        }
        return base | override


def handle_of(page: str) -> str:
    found = _HANDLE.search(page)
    assert found is not None, page
    return html.unescape(found.group(1))


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize(http: httpx.Client, launch: Launch) -> str:
    """The sign-in page's request handle."""
    page = http.get("/patient/authorize", params=launch.params())
    assert page.status_code == 200, page.text
    return handle_of(page.text)


def code_with_invitation(http: httpx.Client, launch: Launch, invitation: str) -> str:
    """Sign in with ``invitation``; the authorization code the app receives."""
    handle = authorize(http, launch)
    answer = http.post(
        "/patient/authorize/invitation", data={"request": handle, "code": invitation}
    )
    assert answer.status_code == 303, answer.text
    back = query_of(answer.headers["location"])
    assert answer.headers["location"].startswith(launch.redirect_uri + "?")
    assert back["state"] == launch.state
    return back["code"]


def exchange(http: httpx.Client, launch: Launch, code: str, **override: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": launch.client_id,
        "code": code,
        "redirect_uri": launch.redirect_uri,
        "code_verifier": launch.verifier,
    }
    return http.post("/patient/oauth/token", data=form | override)


def refresh(http: httpx.Client, token: str, client_id: str = PORTAL) -> httpx.Response:
    form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": token}
    return http.post("/patient/oauth/token", data=form)


def signed_in(http: httpx.Client, settings: Settings, system: str, value: str) -> dict[str, Any]:
    """A patient's session at the gateway ``http`` reaches (its settings: ``settings``): the
    hospital issues an invitation (wall clock), the portal signs in with it (code + PKCE)."""
    issued = invite(settings, system, value, int(time.time()))
    assert issued is not None, "the hospital holds no such patient"
    launch = Launch.new(settings.public_url)
    answer = exchange(http, launch, code_with_invitation(http, launch, issued.code))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body
