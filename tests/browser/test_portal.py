"""The patient portal in the system Chromium: the access log rows appear and the browser itself
verifies each row's RFC 9162 proof (WebCrypto) against the cosigned checkpoint's root."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from tests.gateway.audit.harness import Consortium, populate, running_consortium

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT_MS = 30_000

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running_consortium(tmp_path_factory.mktemp("portal")) as c:
        populate(c)
        c.wait_final("hospital-a", 6)
        yield c


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("system Chromium missing: apt-get install -y chromium (.ci/system-deps.sh)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def open_log(browser: Browser, c: Consortium) -> Page:
    page = browser.new_page()
    page.goto(f"{c.urls['hospital-a']}/portal")
    page.fill("#token", c.patient_token())
    page.click("#load")
    done(page)
    return page


def done(page: Page) -> None:
    # The status line is written once every row's proof has been checked. (Locator waits, not
    # wait_for_function: the page's CSP forbids the eval that a string predicate needs.)
    expect(page.locator("#status")).to_contain_text("accesses,", timeout=WAIT_MS)


def test_every_row_is_shown_and_verified_in_the_browser(
    browser: Browser, consortium: Consortium, tmp_path: Path
) -> None:
    page = open_log(browser, consortium)
    rows = page.locator("#log tbody tr")
    assert rows.count() == 3
    assert page.locator("td.proof").all_text_contents() == ["verified"] * 3
    texts = [rows.nth(i).inner_text() for i in range(3)]
    assert "insurer-b (insurer)" in texts[0]
    assert "consent-0042" in texts[0]
    assert "BREAK-GLASS" in texts[1]
    assert "ETREAT" in texts[1]
    assert "deny" in texts[2]
    notify = [rows.nth(i).locator("td").nth(7).inner_text() for i in range(3)]
    assert notify == ["no", "yes", "no"]
    assert "3 accesses, 3 verified, 0 pending" in page.inner_text("#status")
    shot = tmp_path / "portal.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 1000
    page.close()


def test_a_tampered_proof_or_leaf_is_not_verified(browser: Browser, consortium: Consortium) -> None:
    """The server's answer is altered in flight: the browser's own check must catch it."""

    def tamper(route: Route) -> None:
        response = route.fetch()
        log = response.json()
        first, second = log["entries"][0], log["entries"][1]
        first["proof"]["hashes"][0] = "00" * 32
        second["decision"] = "deny"  # the row no longer says what the proven leaf says
        route.fulfill(response=response, body=json.dumps(log))

    page = browser.new_page()
    page.route("**/patient/audit", tamper)
    page.goto(f"{consortium.urls['hospital-a']}/portal")
    page.fill("#token", consortium.patient_token())
    page.click("#load")
    done(page)
    assert page.locator("td.proof").all_text_contents() == ["failed", "failed", "verified"]
    page.close()
