"""A SMART client's public keys fetched from its registered JWKS URL, cached by kid.

Fetching is bounded: FETCH_TIMEOUT_SECONDS for the whole answer, MAX_JWKS_BYTES, no redirects (the
URL the operator registered is the only host contacted). The cache maps kid -> key and is replaced
whole by each fetch, so a key the client removed from its JWKS stops verifying at the next fetch.
A fetch happens when an assertion names a kid not cached, or a cached key is older than
MAX_AGE_SECONDS; at most one per MIN_REFETCH_SECONDS, so assertions with made-up kids cannot
make this gateway hammer the client's server. Correct with N replicas: each holds its own copy of
the same public document, at most MAX_AGE_SECONDS old; nothing is shared or written.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from collections.abc import Callable

from gateway.auth.jwt import PublicKey
from gateway.auth.keys import parse_jwks
from gateway.errors import AuthError
from ledger.ids import Kid

FETCH_TIMEOUT_SECONDS = 5.0
MAX_JWKS_BYTES = 64 * 1024
MAX_AGE_SECONDS = 300
MIN_REFETCH_SECONDS = 10
_CHUNK = 16 * 1024
_log = logging.getLogger("medgate.gateway.auth.jwks")

Fetch = Callable[[str], bytes]
"""Fetch a URL's body; raises JwksUnavailable."""


class JwksUnavailable(Exception):
    """The JWKS URL did not answer a JWKS within the bounds (problem)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # urllib then raises HTTPError for the 3xx


_OPENER = urllib.request.build_opener(_NoRedirect)


def http_fetch(
    url: str, *, timeout: float = FETCH_TIMEOUT_SECONDS, max_bytes: int = MAX_JWKS_BYTES
) -> bytes:
    """GET ``url`` (http or https, as the settings allow) within the time and size bounds."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme pinned by ClientSettings
    body = bytearray()
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            if response.status != 200:
                raise JwksUnavailable(f"answered {response.status}")
            while chunk := response.read(_CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise JwksUnavailable(f"larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise JwksUnavailable(f"slower than {timeout} s")
    except OSError as exc:  # URLError, HTTPError, timeouts and resets are OSErrors
        raise JwksUnavailable(type(exc).__name__) from exc
    return bytes(body)


class RemoteJwks:
    """A KeySource (gateway.auth.smart) over a JWKS URL. ``key`` may block on the network for
    up to FETCH_TIMEOUT_SECONDS: call it off the event loop (the token endpoint runs in a thread)."""

    def __init__(self, client_id: str, url: str, fetch: Fetch = http_fetch) -> None:
        self._client_id = client_id
        self._url = url
        self._fetch = fetch
        self._keys: dict[Kid, PublicKey] = {}
        self._fetched_at: int | None = None
        self._tried_at: int | None = None
        self._lock = threading.Lock()

    def key(self, kid: Kid, now: int) -> PublicKey | None:
        """The client's key with ``kid``, fetching the JWKS if needed. Raises AuthError when the
        JWKS URL cannot be read (the token request is refused: fail closed)."""
        if self._fresh(now) and kid in self._keys:
            return self._keys[kid]
        with self._lock:
            if not (self._fresh(now) and kid in self._keys) and self._may_fetch(now):
                self._refresh(now)
            return self._keys.get(kid) if self._fresh(now) else None

    def _fresh(self, now: int) -> bool:
        return self._fetched_at is not None and now - self._fetched_at < MAX_AGE_SECONDS

    def _may_fetch(self, now: int) -> bool:
        return self._tried_at is None or now - self._tried_at >= MIN_REFETCH_SECONDS

    def _refresh(self, now: int) -> None:
        self._tried_at = now
        try:
            keys = parse_jwks(self._fetch(self._url))
        except (JwksUnavailable, ValueError) as exc:
            _log.warning(
                "client JWKS fetch failed",
                extra={"client_id": self._client_id, "problem": str(exc)},
            )
            raise AuthError("the client's JWKS URL could not be read") from exc
        self._keys, self._fetched_at = keys, now
