"""What the browser tests share: the system Chromium and how to wait on the portal."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Page, expect

from gateway.cli.patient_auth_cmd import invite
from tests.gateway.audit.harness import MRN, MRN_SYSTEM, Consortium

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT_MS = 30_000
HOSPITAL = "hospital-a"


def done(page: Page) -> None:
    """Wait until the portal has checked every row's proof and the history (the status line is
    written last). Locator waits, not wait_for_function: the page's CSP forbids the eval that a
    string predicate needs."""
    expect(page.locator("#status")).to_contain_text("accesses,", timeout=WAIT_MS)


def sign_in(page: Page, c: Consortium, value: str = MRN) -> None:
    """Sign in as the patient the way a patient does: the hospital prints an invitation code
    (`medgate patient invite`), the portal starts the SMART launch, the patient types the code on
    the hospital's sign-in page and is sent back to the portal, which loads the log."""
    issued = invite(c.settings[HOSPITAL], MRN_SYSTEM, value, int(time.time()))
    assert issued is not None, "hospital-a holds no such patient"
    page.goto(f"{c.urls[HOSPITAL]}/portal")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Invitation code from the hospital").fill(issued.code)
    page.get_by_role("button", name="Sign in").click()
    done(page)
