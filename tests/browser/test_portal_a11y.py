"""The portal passes axe-core (from the npm registry: `make browser-deps` installs it into
tests/browser/axe/node_modules) in the system Chromium, signed in with every part shown: no
serious or critical violation. axe is injected into a context that bypasses the page's CSP (the
page itself admits no script but its own files)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.support import sign_in
from tests.gateway.audit.harness import Consortium
from tests.gateway.patient.harness import HOSPITAL, break_glass, portal_consortium

pytestmark = pytest.mark.e2e
AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
RUN_AXE = """async () => {
  const result = await axe.run(document);
  return {passes: result.passes.length, violations: result.violations.map((v) => ({id: v.id,
    impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" "))}))};
}"""


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with portal_consortium(tmp_path_factory.mktemp("a11y")) as found:
        break_glass(found)
        found.wait_final(HOSPITAL, 2)
        yield found


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}]
)
def test_axe_finds_no_serious_violation(
    browser: Browser, c: Consortium, viewport: dict[str, int]
) -> None:
    if not AXE.is_file():
        pytest.fail(f"axe-core missing at {AXE}: run `make browser-deps` (npm install)")
    context = browser.new_context(bypass_csp=True, viewport=viewport)
    page = context.new_page()
    page.goto(f"{c.urls[HOSPITAL]}/portal")
    before: list[dict[str, Any]] = _violations(page)
    sign_in(page, c)
    expect(page.locator("#notices")).to_be_visible()
    expect(page.locator("#grant-form")).to_be_visible()
    expect(page.locator("#grantee option")).not_to_have_count(0)
    after = _violations(page)
    context.close()
    serious = [v for v in before + after if v["impact"] in ("serious", "critical")]
    assert serious == [], serious


def _violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(RUN_AXE)
    assert found["passes"] >= 10, found  # axe ran its rules on this page
    print(found["violations"])  # every impact, for the log; only serious/critical fail
    violations: list[dict[str, Any]] = found["violations"]
    return violations
