"""The demo patient's sign-in, as the portal does it: the hospital prints an invitation code
(``medgate patient invite``), the app runs the SMART standalone launch with PKCE over HTTP and
types the code on the hospital's sign-in page."""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import aiohttp

from gateway.patientauth.pkce import s256
from gateway.patientauth.signin import PORTAL_CLIENT_ID, PORTAL_PATH

SCOPE = "launch/patient patient/*.read"
_HANDLE = re.compile(r'name="request" value="([^"]+)"')


@dataclass(frozen=True, slots=True)
class SignedIn:
    status: int
    """200 when signed in; else the HTTP status of the step that failed."""
    access_token: str = ""
    refresh_token: str = ""


async def sign_in(
    session: aiohttp.ClientSession, base_url: str, public_url: str, invitation: str
) -> SignedIn:
    """Sign in at the gateway at ``base_url`` (whose public URL is ``public_url``) with an
    invitation code, as the portal client."""
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    redirect = f"{public_url}{PORTAL_PATH}"
    params = {
        "response_type": "code",
        "client_id": PORTAL_CLIENT_ID,
        "redirect_uri": redirect,
        "scope": SCOPE,
        "state": state,
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
    }
    async with session.get(f"{base_url}/patient/authorize", params=params) as page:
        found = _HANDLE.search(await page.text())
        if page.status != 200 or found is None:
            return SignedIn(page.status)
    form = {"request": html.unescape(found.group(1)), "code": invitation}
    url = f"{base_url}/patient/authorize/invitation"
    async with session.post(url, data=form, allow_redirects=False) as answer:
        back = parse_qs(urlsplit(answer.headers.get("location", "")).query)
        if answer.status != 303 or back.get("state") != [state] or "code" not in back:
            return SignedIn(answer.status)
    token_form = {
        "grant_type": "authorization_code",
        "client_id": PORTAL_CLIENT_ID,
        "code": back["code"][0],
        "redirect_uri": redirect,
        "code_verifier": verifier,
    }
    async with session.post(f"{base_url}/patient/oauth/token", data=token_form) as tokens:
        body = await tokens.json(content_type=None)
        if tokens.status != 200:
            return SignedIn(tokens.status)
    return SignedIn(200, str(body["access_token"]), str(body["refresh_token"]))
