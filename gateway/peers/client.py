"""The HTTP client for peer calls: one pooled aiohttp session, bounded time, typed failures.

aiohttp, not httpx, on the hot path: httpx.AsyncClient serves ~10x fewer requests per second under
concurrency (ARCHITECTURE.md section 8). aiohttp's exceptions are translated here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from gateway.errors import UnavailableError

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

    def __init__(self, *, total_timeout: float = TOTAL_TIMEOUT_S) -> None:
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
        self, url: str, body: bytes, *, token: str, content_type: str, accept: str
    ) -> PeerResponse:
        """POST ``body`` with the peer assertion ``token``. Raises UnavailableError when the peer
        cannot be reached, times out or answers more than MAX_RESPONSE_BYTES."""
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": content_type,
            "Accept": accept,
        }
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                if (response.content_length or 0) > MAX_RESPONSE_BYTES:
                    raise UnavailableError("the peer's answer is too large")
                data = await _read_bounded(response)
                return PeerResponse(
                    response.status,
                    response.content_type,
                    {k.lower(): v for k, v in response.headers.items()},
                    data,
                )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UnavailableError("the peer gateway is unavailable") from exc

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
