"""``/docs`` in the system Chromium with every request not to the gateway aborted: Swagger UI's
assets come from the gateway itself, and the operations (the fast exchange routes too) are listed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Route, expect, sync_playwright

from gateway.app import create_app
from gateway.settings import Settings
from tests.gateway.member import write_member
from tests.gateway.serve import serve

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT_MS = 30_000

pytestmark = pytest.mark.e2e


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    member = write_member(tmp_path)
    with serve(create_app(Settings.load(member.config))) as url:
        yield url


def test_docs_lists_the_operations_with_the_network_blocked(base_url: str, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail("system Chromium missing: apt-get install -y chromium (.ci/system-deps.sh)")
    blocked: list[str] = []
    console: list[str] = []

    def only_the_gateway(route: Route) -> None:
        if route.request.url.startswith(f"{base_url}/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.route("**/*", only_the_gateway)
            page.goto(f"{base_url}/docs")
            expect(page.locator(".opblock-summary-path").first).to_be_visible(timeout=WAIT_MS)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
        finally:
            browser.close()
    listed = {p.replace("\u200b", "").strip() for p in paths}
    assert {"/outbound/query", "/exchange/query", "/auth/token", "/policy"} <= listed
    assert not blocked, f"the page asked for outside resources: {blocked}"
    assert not [m for m in console if "Content Security Policy" in m], console


def test_docs_page_sends_a_strict_csp(base_url: str) -> None:
    page = httpx.get(f"{base_url}/docs", timeout=30)
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self';" in csp
    assert "frame-ancestors 'none'" in csp
    assert "<script>" not in page.text  # no inline script: everything is a file of this origin
    for src in (
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
        "/docs/init.js",
    ):
        assert httpx.get(f"{base_url}{src}", timeout=30).status_code == 200
    assert httpx.get(f"{base_url}/docs/assets/index.html", timeout=30).status_code == 404
    assert httpx.get(f"{base_url}/docs/assets/..%2Fcore.py", timeout=30).status_code == 404
