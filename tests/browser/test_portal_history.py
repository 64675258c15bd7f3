"""The portal proves history in the system Chromium: the first visit remembers the cosigned
checkpoint (localStorage), a later visit verifies the RFC 9162 consistency proof from it to the
current one and says so, and a proof altered in flight is shown as a red warning naming both
checkpoint sizes. The browser's verifier (merkle.js) passes every RFC 9162 vector."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from gateway.demo.consortium import patient_key
from gateway.identity.pseudonym import patient_ref
from tests.browser.support import WAIT_MS, sign_in
from tests.gateway.audit.harness import (
    MRN_SYSTEM,
    Consortium,
    access_body,
    populate,
    running_consortium,
)

pytestmark = pytest.mark.e2e
HOSPITAL = "hospital-a"
RED = "rgb(179, 38, 30)"


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running_consortium(tmp_path_factory.mktemp("history")) as c:
        populate(c)
        c.wait_final(HOSPITAL, 6)
        yield c


def grow(c: Consortium) -> int:
    """One more block (an access to another patient), final at the hospital; the new size."""
    size = c.wait_final(HOSPITAL, 1)["cp"]["tree_size"]
    other = patient_ref(patient_key(c.root, HOSPITAL), MRN_SYSTEM, "MRN-7777")
    c.submit(HOSPITAL, "access.record", access_body("insurer-b", "insurer", HOSPITAL, other))
    grown: int = c.wait_final(HOSPITAL, size + 1)["cp"]["tree_size"]
    return grown


def visit(context: BrowserContext, c: Consortium) -> Page:
    page = context.new_page()
    sign_in(page, c)
    return page


def remembered(context: BrowserContext) -> dict[str, Any]:
    """The checkpoint this browser keeps, read from its storage (not through the page)."""
    found = [
        json.loads(item["value"])
        for origin in context.storage_state()["origins"]
        for item in origin["localStorage"]
        if item["name"].startswith("medgate.checkpoint.")
    ]
    assert len(found) == 1, found
    kept: dict[str, Any] = found[0]["checkpoint"]["cp"]
    return kept


def test_first_visit_remembers_and_the_next_proves_consistency(
    browser: Browser, consortium: Consortium
) -> None:
    context = browser.new_context()
    first = visit(context, consortium)
    expect(first.locator("#history")).to_contain_text("First visit", timeout=WAIT_MS)
    seen = remembered(context)
    first.close()
    size = grow(consortium)
    assert size > seen["tree_size"]
    asked: list[str] = []
    second = context.new_page()
    second.on("request", lambda request: asked.append(request.url))
    sign_in(second, consortium)
    history = second.locator("#history")
    expect(history).to_have_class("verified")
    expect(history).to_contain_text(f"History consistent: the checkpoint of {size} entries (block ")
    expect(history).to_contain_text(f"extends the checkpoint of {seen['tree_size']} entries")
    query = f"/ledger/proof/consistency?from={seen['tree_size']}&to={size}"
    assert [url for url in asked if url.endswith(query)], asked
    assert remembered(context)["tree_size"] == size
    context.close()


def test_a_tampered_consistency_proof_shows_a_red_warning_with_both_sizes(
    browser: Browser, consortium: Consortium
) -> None:
    context = browser.new_context()
    visit(context, consortium).close()
    seen = remembered(context)["tree_size"]
    size = grow(consortium)

    def flip_a_byte(route: Route) -> None:
        response = route.fetch()
        proof = response.json()
        first = bytes.fromhex(proof["hashes"][0])
        proof["hashes"][0] = bytes([first[0] ^ 0x01, *first[1:]]).hex()
        route.fulfill(response=response, body=json.dumps(proof))

    page = context.new_page()
    page.route("**/ledger/proof/consistency?*", flip_a_byte)
    sign_in(page, consortium)
    history = page.locator("#history")
    expect(history).to_have_class("failed")
    expect(history).to_have_css("color", RED)
    expect(history).to_contain_text("WARNING")
    expect(history).to_contain_text(f"checkpoint of {size} entries shown now")
    expect(history).to_contain_text(f"checkpoint of {seen} entries this browser saw")
    assert remembered(context)["tree_size"] == seen  # the earlier checkpoint is kept as evidence
    context.close()


def _hex(value: str | None) -> str:
    return base64.b64decode(value or "").hex()


def _vectors(vectors_dir: Path) -> list[dict[str, Any]]:
    """Every RFC 9162 vector, digests as hex (the portal's wire form)."""
    out = []
    for path in sorted((vectors_dir / "merkle-rfc9162").rglob("*.json")):
        d = json.loads(path.read_text())
        case = {"name": str(path.relative_to(vectors_dir)), "wantErr": d["wantErr"]}
        case["proof"] = [_hex(p) for p in d["proof"] or []]
        if "leafHash" in d:
            case |= {"kind": "inclusion", "leaf": _hex(d["leafHash"]), "root": _hex(d["root"])}
            case |= {"index": d["leafIdx"], "size": d["treeSize"]}
        else:
            case |= {"kind": "consistency", "size1": d["size1"], "size2": d["size2"]}
            case |= {"root1": _hex(d["root1"]), "root2": _hex(d["root2"])}
        out.append(case)
    return out


VERIFY_ALL = """async (cases) => {
  const out = [];
  for (const c of cases) {
    const proof = c.proof.map(hexDecode);
    out.push(c.kind === "inclusion"
      ? await verifyInclusion(hexDecode(c.leaf), c.index, c.size, proof, hexDecode(c.root))
      : await verifyConsistency(c.size1, c.size2, proof, hexDecode(c.root1), hexDecode(c.root2)));
  }
  return out;
}"""


def test_the_browser_verifier_passes_every_rfc9162_vector(
    browser: Browser, consortium: Consortium, vectors_dir: Path
) -> None:
    cases = _vectors(vectors_dir)
    page = browser.new_page()
    page.goto(f"{consortium.urls[HOSPITAL]}/portal")
    passed = page.evaluate(VERIFY_ALL, cases)
    wrong = [c["name"] for c, ok in zip(cases, passed, strict=True) if ok == c["wantErr"]]
    assert wrong == []
    kinds = [(c["kind"], c["wantErr"]) for c in cases]
    assert len(cases) == 196
    assert kinds.count(("consistency", False)) == kinds.count(("inclusion", False)) == 6
    page.close()
