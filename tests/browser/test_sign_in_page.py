"""The sign-in page in the system Chromium: reached from a SMART launch, filled with the keyboard
through its labelled field, its form allowed by the page's own CSP, and back at the portal with a
code that the app exchanges (a wrong code first shows the problem on the page)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from gateway.app import create_app
from gateway.cli.patient_auth_cmd import invite
from gateway.settings import Settings
from tests.browser.support import WAIT_MS
from tests.gateway.conftest import fetch_token
from tests.gateway.member import ManualClock, write_member
from tests.gateway.patientauth.conftest import ALICE, MRN_SYSTEM, add_patient
from tests.gateway.patientauth.flow import Launch, exchange, query_of
from tests.gateway.patientauth.idp import User, running_idp
from tests.gateway.serve import serve
from tests.support.ports import free_ports


def _serve(tmp_path: Path, extra: str = "") -> Iterator[tuple[str, Settings, ManualClock]]:
    port = free_ports(1)[0]
    member = write_member(tmp_path, public_url=f"http://127.0.0.1:{port}")
    if extra:
        secret = member.config.parent / "keys" / "idp.secret"
        secret.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        with member.config.open("a", encoding="utf-8") as out:
            out.write(extra)
    settings, clock = Settings.load(member.config), ManualClock()
    with (
        serve(create_app(settings, clock=clock), port) as base,
        httpx.Client(base_url=base) as http,
    ):
        add_patient(http, fetch_token(http, member, clock.now), ALICE)
        yield base, settings, clock


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, Settings, ManualClock]]:
    yield from _serve(tmp_path)


@pytest.fixture
def federated(tmp_path: Path) -> Iterator[tuple[str, Settings, ManualClock]]:
    with running_idp([User(sub="alice@hospital", claims={"mrn": ALICE})]) as issuer:
        extra = f"""
[patient_auth]
authenticators = ["invitation", "oidc"]
[patient_auth.oidc]
issuer = "{issuer}"
client_id = "medgate-hospital-a"
client_secret_path = "keys/idp.secret"
claim = "mrn"
identifier_system = "{MRN_SYSTEM}"
label = "Sign in with your hospital account"
"""
        yield from _serve(tmp_path, extra)


def _act_as_the_app(page: Page) -> None:
    """This test is the app: it reads the redirect itself, so the real portal's script (which
    exchanges the code and clears the address at once) does not run at the redirect URI."""
    page.route(
        "**/portal/portal.js",
        lambda route: route.fulfill(status=200, content_type="text/javascript", body=""),
    )


def test_sign_in_with_an_invitation_code_in_chromium(
    browser: Browser, gateway: tuple[str, Settings, ManualClock], tmp_path: Path
) -> None:
    base, settings, clock = gateway
    issued = invite(settings, MRN_SYSTEM, ALICE, clock.now)
    assert issued is not None
    launch = Launch.new(settings.public_url)
    page = browser.new_page()
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    _act_as_the_app(page)
    page.goto(f"{base}/patient/authorize?{urlencode(launch.params())}")
    field = page.get_by_label("Invitation code from the hospital")
    field.focus()
    page.keyboard.type("WRNG-WRNG-WRNG-WRNG-WRNG-WRNG")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("not valid", timeout=WAIT_MS)
    page.get_by_label("Invitation code from the hospital").fill(issued.code.lower())
    page.get_by_role("button", name="Sign in").press("Enter")
    page.wait_for_url(f"{settings.public_url}/portal?*", timeout=WAIT_MS)
    back = query_of(page.url)
    assert back["state"] == launch.state
    page.screenshot(path=str(tmp_path / "after-sign-in.png"), full_page=True)
    assert (tmp_path / "after-sign-in.png").stat().st_size > 1000
    page.close()
    assert violations == []
    with httpx.Client(base_url=base, timeout=30) as http:
        tokens = exchange(http, launch, back["code"])
    assert tokens.status_code == 200, tokens.text


@pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")
def test_sign_in_through_the_hospital_idp_in_chromium(
    browser: Browser, federated: tuple[str, Settings, ManualClock]
) -> None:
    base, settings, _ = federated
    launch = Launch.new(settings.public_url)
    page = browser.new_page()
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    _act_as_the_app(page)
    page.goto(f"{base}/patient/authorize?{urlencode(launch.params())}")
    page.get_by_role("button", name="Sign in with your hospital account").click()
    page.get_by_role("button", name="alice@hospital").click()  # the IdP's login page
    page.wait_for_url(f"{settings.public_url}/portal?*", timeout=WAIT_MS)
    back = query_of(page.url)
    page.close()
    assert back["state"] == launch.state
    assert violations == []
    with httpx.Client(base_url=base, timeout=30) as http:
        tokens = exchange(http, launch, back["code"])
    assert tokens.status_code == 200, tokens.text
