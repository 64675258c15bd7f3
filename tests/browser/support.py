"""What the browser tests share: the system Chromium and how to wait on the portal."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT_MS = 30_000


def done(page: Page) -> None:
    """Wait until the portal has checked every row's proof and the history (the status line is
    written last). Locator waits, not wait_for_function: the page's CSP forbids the eval that a
    string predicate needs."""
    expect(page.locator("#status")).to_contain_text("accesses,", timeout=WAIT_MS)
