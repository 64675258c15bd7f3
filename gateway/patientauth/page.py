"""The sign-in page and its error page: plain HTML, no script, no third-party asset, strict CSP."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse

from gateway.errors import NO_STORE
from gateway.patientauth.authenticators import Authenticator


def headers(form_targets: Iterable[str] = ()) -> dict[str, str]:
    """Security headers of every sign-in page; ``form_targets``: redirect URIs a form submission
    may end at (CSP form-action covers the redirect after the POST)."""
    origins = sorted({f"{u.scheme}://{u.netloc}" for u in map(urlsplit, form_targets)})
    form_action = " ".join(["'self'", *origins])
    return {
        "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        **NO_STORE,
    }


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head><body><main>"
        f"<h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def sign_in(
    org: str,
    handle: str,
    authenticators: Sequence[Authenticator],
    targets: Iterable[str],
    problem: str | None = None,
    status: int = 200,
    extra_headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The page offering every enabled authenticator; ``problem`` shown above them."""
    alert = "" if problem is None else f'<p role="alert" id="problem">{escape(problem)}</p>'
    parts = "".join(a.render(handle) for a in authenticators)
    body = f"<p>Sign in to see who accessed your records at {escape(org)}.</p>{alert}{parts}"
    out = {**headers(targets), **(extra_headers or {})}
    return HTMLResponse(_document("Patient sign-in", body), status, headers=out)


def refused(problem: str, status: int) -> HTMLResponse:
    body = f'<p role="alert" id="problem">{escape(problem)}</p>'
    return HTMLResponse(_document("Sign-in refused", body), status, headers=headers())
