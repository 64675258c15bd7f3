"""The portal's files: a strict Content-Security-Policy (no inline script or style, nothing from
another origin), no inline script, style or event handler in the page, every file of this origin
served, and nothing else under /portal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from tests.gateway.member import write_member
from tests.gateway.serve import serve

FILES = ("merkle.js", "history.js", "signin.js", "timeline.js", "notices.js", "consents.js")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    member = write_member(tmp_path_factory.mktemp("page"))
    with serve(create_app(Settings.load(member.config))) as url:
        yield url


def test_the_portal_sends_a_strict_csp_and_holds_nothing_inline(base_url: str) -> None:
    page = httpx.get(f"{base_url}/portal", timeout=30)
    csp = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert "unsafe" not in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    html = page.text
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts
    assert all(body.strip() == "" and 'src="/portal/' in attrs for attrs, body in scripts)
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from another origin


def test_every_file_of_the_page_is_served_and_nothing_else(base_url: str) -> None:
    for name in (*FILES, "portal.css"):
        answer = httpx.get(f"{base_url}/portal/{name}", timeout=30)
        assert answer.status_code == 200, name
        assert "content-security-policy" in answer.headers
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "http://" not in answer.text
        assert "https://" not in answer.text
    for bad in ("/portal/secret.js", "/portal/..%2Fapp.js", "/portal/portal.html.js"):
        assert httpx.get(f"{base_url}{bad}", timeout=30).status_code == 404


def test_the_page_loads_only_files_it_names(base_url: str) -> None:
    html = httpx.get(f"{base_url}/portal", timeout=30).text
    named = set(re.findall(r'(?:src|href)="/portal/([^"]+)"', html))
    assert named == {*FILES, "portal.js", "portal.css"}
    static = Path(__file__).resolve().parents[3] / "gateway" / "static"
    assert all((static / name).is_file() for name in named)
