"""The patient portal as a patient uses it, in the system Chromium, against two real gateways:
read the timeline in words, see the break-glass notice at the top and mark it read, filter, grant
a consent then revoke it (the insurer's next query is released, then denied), see a red warning
when a served proof is tampered with; the page asks nothing of another origin and puts neither
token nor PHI in a URL. Screenshots go to test-artifacts/portal/ (gitignored)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from gateway.cli.patient_auth_cmd import invite
from tests.browser import support
from tests.browser.support import WAIT_MS, done
from tests.gateway.audit.harness import MRN, MRN_SYSTEM, Consortium
from tests.gateway.patient.harness import (
    EMAIL,
    HOSPITAL,
    INSURER,
    NAMES,
    break_glass,
    insurer_query,
    portal_consortium,
)

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with portal_consortium(tmp_path_factory.mktemp("portal-patient")) as found:
        assert insurer_query(found).status_code == 403  # a refused query, before any consent
        break_glass(found)
        found.wait_final(HOSPITAL, 3)  # genesis, the refusal, the break-glass
        yield found


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000


class Watch:
    """Every URL the page asked for; anything not of the gateway is aborted and listed."""

    def __init__(self, page: Page, base: str) -> None:
        self.urls: list[str] = []
        self.outside: list[str] = []
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))

        def route(r: Route) -> None:
            self.urls.append(r.request.url)
            if r.request.url.startswith(f"{base}/"):
                r.continue_()
            else:
                self.outside.append(r.request.url)
                r.abort()

        page.route("**/*", route)


def sign_in(page: Page, c: Consortium) -> list[str]:
    """Sign in with an invitation code (tests.browser.support.sign_in); the session's access and
    refresh tokens, read from the token endpoint's answer to the page."""
    with page.expect_response("**/patient/oauth/token") as answer:
        support.sign_in(page, c)
    body = answer.value.json()
    return [body["access_token"], body["refresh_token"]]


def test_sign_in_with_an_invitation_code(
    browser: Browser, c: Consortium, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    context = browser.new_context()
    page = context.new_page()
    visited: list[str] = []
    page.on("framenavigated", lambda frame: visited.append(frame.url))
    issued = invite(c.settings[HOSPITAL], MRN_SYSTEM, MRN, int(time.time()))
    assert issued is not None
    page.goto(f"{c.urls[HOSPITAL]}/portal")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_title("Patient sign-in")
    assert "/patient/authorize?" in page.url
    assert "code_challenge_method=S256" in page.url
    page.get_by_label("Invitation code from the hospital").fill(issued.code)
    shot(page, "sign-in")
    with page.expect_response("**/patient/oauth/token") as answer:
        page.get_by_role("button", name="Sign in").click()
    done(page)
    tokens = answer.value.json()
    assert answer.value.status == 200
    assert page.url == f"{c.urls[HOSPITAL]}/portal"  # the code left the address bar
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("#log tbody tr")).to_have_count(2)
    stored = json.dumps(context.storage_state())
    assert tokens["access_token"] not in stored  # in page memory only
    assert issued.code not in " ".join(visited)  # typed, never in an address
    # A reload continues the session with the (single-use) refresh token kept for this tab.
    with page.expect_response("**/patient/oauth/token") as renewed:
        page.reload()
    done(page)
    assert renewed.value.json()["access_token"] != tokens["access_token"]
    # The invitation was spent: a second sign-in with it is refused on the hospital's page.
    other = context.new_page()
    other.goto(f"{c.urls[HOSPITAL]}/portal")
    other.get_by_role("button", name="Sign in").click()
    other.get_by_label("Invitation code from the hospital").fill(issued.code)
    other.get_by_role("button", name="Sign in").click()
    expect(other.locator("#problem")).to_be_visible()
    assert "/portal" not in other.url
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    context.close()
    # Nothing secret in the gateways' log lines: not the invitation, the authorization code
    # (which did pass through an address, once), nor either token.
    codes = [u.split("code=", 1)[1].split("&", 1)[0] for u in visited if "?code=" in u]
    assert codes
    secrets_ = [issued.code, *codes, tokens["access_token"], tokens["refresh_token"]]
    ours = [r for r in caplog.records if r.name.startswith(("gateway", "medgate", "uvicorn"))]
    assert ours  # the request log was captured
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert not [s for s in secrets_ if s in logged]


def test_the_timeline_in_words_with_the_break_glass_notice_on_a_phone(
    browser: Browser, c: Consortium
) -> None:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    watch = Watch(page, c.urls[HOSPITAL])
    tokens = sign_in(page, c)
    notices = page.locator("#notices")
    expect(notices).to_be_visible()
    expect(notices).to_contain_text(f"{NAMES[HOSPITAL]} accessed your records")
    expect(notices).to_contain_text("in an emergency (break-glass), for emergency treatment")
    rows = page.locator("#log tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("td.proof")).to_have_text(["verified", "verified"], timeout=WAIT_MS)
    refused, urgent = rows.nth(0), rows.nth(1)
    expect(refused).to_contain_text(NAMES[INSURER])
    expect(refused).to_contain_text("paying for your care (insurance claims)")
    expect(refused).to_contain_text("insurance claims")
    expect(refused).to_contain_text("refused: you have not given consent for this")
    expect(urgent).to_have_class("breakglass")
    expect(urgent).to_contain_text("EMERGENCY ACCESS (break-glass)")
    expect(urgent).to_contain_text(NAMES[HOSPITAL])
    expect(urgent).to_contain_text("shared: allowed as an emergency (break-glass) access")
    expect(page.locator("#breakglass")).to_contain_text(f"by {NAMES[HOSPITAL]}")
    expect(page.locator("#checkpoint")).to_contain_text(
        f"cosigned by {NAMES[HOSPITAL]}, {NAMES[INSURER]}"
    )
    # The phone layout: one card per access, each value labelled, nothing wider than the screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    shot(page, "timeline-phone")

    page.get_by_label("Who accessed").select_option(label=NAMES[INSURER])
    expect(rows.nth(1)).to_be_hidden()
    expect(rows.nth(0)).to_be_visible()
    page.get_by_label("Who accessed").select_option(index=0)
    page.get_by_label("Decision", exact=True).select_option(label="shared")
    expect(rows.nth(0)).to_be_hidden()
    expect(rows.nth(1)).to_be_visible()
    page.get_by_label("Why", exact=True).select_option(
        label="paying for your care (insurance claims)"
    )
    expect(rows.nth(1)).to_be_hidden()

    page.get_by_role("button", name="Mark as read").first.click()
    expect(notices).to_be_hidden()
    page.reload()
    done(page)
    expect(page.locator("#log tbody tr")).to_have_count(2)
    expect(notices).to_be_hidden()  # read stays read
    assert not watch.outside, watch.outside
    for url in watch.urls:
        for secret in (*tokens, MRN, EMAIL, c.ref):
            assert secret not in url, url
    assert not [m for m in watch.console if "Content Security Policy" in m], watch.console
    context.close()


def test_grant_then_revoke_a_consent_and_the_insurer_is_denied(
    browser: Browser, c: Consortium
) -> None:
    page = browser.new_page()
    sign_in(page, c)
    page.get_by_label("Who may see my records").select_option(label=NAMES[INSURER])
    page.get_by_label("paying for your care (insurance claims)").check()
    page.get_by_label("insurance claims", exact=True).check()
    page.get_by_role("button", name="Give consent").click()
    status = page.locator("#consent-status")
    expect(status).to_have_text("Consent recorded on the ledger.", timeout=WAIT_MS)
    row = page.locator("#consent-list tbody tr").filter(has_text=NAMES[INSURER])
    expect(row).to_contain_text("in force")
    last = page.locator("#end").input_value()  # the last day permitted is shown as given
    shown = page.evaluate(
        "d => new Date(d + 'T12:00:00Z').toLocaleDateString(undefined, {dateStyle: 'medium'})",
        last,
    )
    expect(row).to_contain_text(f"to {shown}")
    shot(page, "consent-granted")
    released = insurer_query(c)
    assert released.status_code == 200, released.text

    row.get_by_role("button", name=f"Revoke the consent for {NAMES[INSURER]}").click()
    expect(status).to_have_text("Consent revoked on the ledger.", timeout=WAIT_MS)
    expect(row).to_contain_text("revoked")
    expect(row.get_by_role("button")).to_have_count(0)
    shot(page, "consent-revoked")
    denied = insurer_query(c)
    assert denied.status_code == 403, denied.text
    page.close()


def test_a_tampered_proof_shows_a_red_warning(browser: Browser, c: Consortium) -> None:
    def tamper(route: Route) -> None:
        response = route.fetch()
        log = response.json()
        log["entries"][0]["proof"]["hashes"][0] = "00" * 32
        route.fulfill(response=response, body=json.dumps(log))

    page = browser.new_page()
    page.route("**/patient/audit", tamper)
    sign_in(page, c)
    warning = page.locator("#proof-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("WARNING: 1 of the rows below failed their proof")
    expect(warning).to_have_css("color", "rgb(125, 26, 20)")
    expect(page.locator("td.proof").first).to_have_text("failed")
    shot(page, "tampered-proof")
    page.close()


def test_the_page_works_from_the_keyboard(browser: Browser, c: Consortium) -> None:
    issued = invite(c.settings[HOSPITAL], MRN_SYSTEM, MRN, int(time.time()))
    assert issued is not None
    page = browser.new_page()
    page.goto(f"{c.urls[HOSPITAL]}/portal")
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#signin-button")).to_be_focused()
    page.keyboard.press("Enter")
    code = page.get_by_label("Invitation code from the hospital")
    for _ in range(10):  # bounded: Tab to the code field of the hospital's sign-in page
        page.keyboard.press("Tab")
        if code.evaluate("e => e === document.activeElement"):
            break
    expect(code).to_be_focused()
    page.keyboard.type(issued.code)
    page.keyboard.press("Enter")
    done(page)
    page.locator("#f-member").focus()
    page.keyboard.press("Tab")
    expect(page.locator("#f-purpose")).to_be_focused()
    page.close()
