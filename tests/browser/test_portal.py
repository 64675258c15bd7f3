"""The patient portal in the system Chromium: the access log rows appear and the browser itself
verifies each row's RFC 9162 proof (WebCrypto) against the cosigned checkpoint's root."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser.support import sign_in
from tests.gateway.audit.harness import Consortium, populate, running_consortium

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running_consortium(tmp_path_factory.mktemp("portal")) as c:
        populate(c)
        c.wait_final("hospital-a", 6)
        yield c


def open_log(browser: Browser, c: Consortium) -> Page:
    page = browser.new_page()
    sign_in(page, c)
    return page


def test_every_row_is_shown_and_verified_in_the_browser(
    browser: Browser, consortium: Consortium, tmp_path: Path
) -> None:
    page = open_log(browser, consortium)
    rows = page.locator("#log tbody tr")
    assert rows.count() == 3
    assert page.locator("td.proof").all_text_contents() == ["verified"] * 3
    texts = [rows.nth(i).inner_text() for i in range(3)]
    assert "insurer-b" in texts[0]
    assert "paying for your care (insurance claims)" in texts[0]
    assert "allowed by your consent" in texts[0]
    assert "EMERGENCY ACCESS (break-glass)" in texts[1]
    assert "emergency treatment" in texts[1]
    assert "refused" in texts[2]
    assert page.locator("#log tbody tr.breakglass").count() == 1
    expect(page.locator("#breakglass")).to_contain_text("1 emergency (break-glass) access")
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
    sign_in(page, consortium)
    assert page.locator("td.proof").all_text_contents() == ["failed", "failed", "verified"]
    page.close()
