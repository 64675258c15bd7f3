"""The HTTP client for peer calls: one pooled aiohttp session, bounded time, typed failures.

aiohttp, not httpx, on the hot path: httpx.AsyncClient serves ~10x fewer requests per second under
concurrency (ARCHITECTURE.md section 8). aiohttp's exceptions are translated here and nowhere else.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from gateway.errors import UnavailableError
from gateway.peers.errors import PeerTlsError
from gateway.peers.tls import MemberContexts

CONNECT_TIMEOUT_S = 5.0
TOTAL_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 256
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""An envelope of the largest payload (20 MiB) is ~36 MiB; anything bigger is not an answer."""


@dataclass(frozen=True, slots=True)
class PeerResponse:
    status: int
    content_type: str
    headers: Mapping[str, str]
    body: bytes


class PeerClient:
    """POSTs to peers. Create inside a running event loop; ``close`` it at shutdown."""

    def __init__(
        self, *, total_timeout: float = TOTAL_TIMEOUT_S, allow_plain_http: bool = False
    ) -> None:
        self._allow_plain_http = allow_plain_http
        self._contexts = MemberContexts()
        timeout = aiohttp.ClientTimeout(total=total_timeout, connect=CONNECT_TIMEOUT_S)
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=0)
        # auto_decompress off and no cookies: a peer answer is bytes we verify, nothing more.
        self._session = aiohttp.ClientSession(
            timeout=timeout,
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        )

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        token: str,
        content_type: str,
        accept: str,
        trust: str | None = None,
    ) -> PeerResponse:
        """POST ``body`` with the peer assertion ``token``. An https:// ``url`` must present a
        certificate from ``trust`` (the member's registered CA, DER base64url) and nothing else;
        an http:// one is refused unless plain HTTP is allowed (a loopback demo). Raises
        PeerTlsError (nothing sent, or the certificate did not verify), UnavailableError when the
        peer cannot be reached, times out or answers more than MAX_RESPONSE_BYTES."""
        context = self._transport(url, trust)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": content_type,
            "Accept": accept,
        }
        try:
            async with self._session.post(url, data=body, headers=headers, ssl=context) as response:
                if (response.content_length or 0) > MAX_RESPONSE_BYTES:
                    raise UnavailableError("the peer's answer is too large")
                data = await _read_bounded(response)
                return PeerResponse(
                    response.status,
                    response.content_type,
                    {k.lower(): v for k, v in response.headers.items()},
                    data,
                )
        except aiohttp.ClientConnectorCertificateError as exc:
            raise PeerTlsError(
                "the peer's TLS certificate does not verify against its registered CA"
            ) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UnavailableError("the peer gateway is unavailable") from exc

    def _transport(self, url: str, trust: str | None) -> ssl.SSLContext | bool:
        scheme = urlsplit(url).scheme
        if scheme == "https":
            if trust is None:
                raise PeerTlsError("the peer has no registered CA to verify its TLS certificate")
            return self._contexts.get(trust)
        if scheme == "http" and self._allow_plain_http:
            return False  # unused for http://; False keeps aiohttp from building a default one
        raise PeerTlsError("the peer's endpoint is not https://: plain HTTP is refused here")

    async def close(self) -> None:
        await self._session.close()


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    if response.content_length is not None:
        return await response.read()  # bounded by the check on content_length above
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise UnavailableError("the peer's answer is too large")
        chunks.append(chunk)
    return b"".join(chunks)
