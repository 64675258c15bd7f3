"""What `ledger verify` checks a store against: the ordering log, and a peer's cosigned checkpoint.

The verifier's core is synchronous and pure (``ledger.verify``); the ordering backends are async.
``LogReader`` runs the backend on an event loop of its own thread and hands messages over one by
one, so a log of any length is streamed, never loaded whole.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth.peer import make_peer_assertion
from gateway.clock import now_ms
from ledger.canonical import canonical
from ledger.checkpoint import CosignedCheckpoint, decode_cosigned
from ledger.ordering.base import Ordered, Ordering

T = TypeVar("T")
PEER_TIMEOUT_S = 30
PEER_PURPOSE = "HOPERAT"
"""The purpose named in the assertion: reading a peer's ledger is a health-care operation."""


class ReferenceError(Exception):
    """The reference (log or peer) could not be read: exit code 2, never a verdict on the store."""


class LogReader:
    """The ordering stream from position 1 as a blocking iterator, ending at the last position the
    log had when opened (messages ordered later are not waited for)."""

    def __init__(self, opener: Callable[[], Awaitable[Ordering]]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="verify-log")
        self._thread.start()
        self._stream: Any = None
        try:
            self._ordering = self._run(_awaited(opener()))
            self.last = self._run(self._ordering.last_position())
        except BaseException:
            self._stop_loop()
            raise

    def __iter__(self) -> Iterator[Ordered]:
        if self.last == 0:
            return
        stream = self._ordering.read(0)
        self._stream = stream

        async def next_message() -> Ordered:
            return await stream.__anext__()

        while True:
            message = self._run(next_message())
            yield message
            if message.position >= self.last:
                return

    def close(self) -> None:
        try:
            if self._stream is not None:
                self._run(self._stream.aclose())
            self._run(self._ordering.close())
        finally:
            self._stop_loop()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


async def _awaited(value: Awaitable[T]) -> T:
    return await value


class PeerLedger:
    """A peer's ledger API (``<url>/ledger/...``), each request with a fresh peer assertion signed
    by this member's key (the peer serves members only)."""

    def __init__(
        self,
        url: str,
        org: str,
        key: ec.EllipticCurvePrivateKey,
        tls: ssl.SSLContext | bool = True,
    ) -> None:
        self.url = url.rstrip("/")
        self._org = org
        self._key = key
        self._tls = tls
        """The peer's TLS trust (gateway.peers.tls.member_context: its own registered CA);
        True: the system's default CAs; False: plain HTTP (a loopback demo)."""

    def checkpoint(self) -> CosignedCheckpoint:
        """The peer's highest quorum-cosigned checkpoint (signatures not yet checked)."""
        body = asyncio.run(self._get("/ledger/checkpoint", {}))
        try:
            return decode_cosigned(canonical(body))
        except Exception as exc:
            raise ReferenceError(f"{self.url} sent no valid cosigned checkpoint: {exc}") from exc

    def consistency(self, first: int, second: int) -> list[bytes]:
        params = {"from": str(first), "to": str(second)}
        body = asyncio.run(self._get("/ledger/proof/consistency", params))
        try:
            return [bytes.fromhex(h) for h in body["hashes"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ReferenceError(f"{self.url} sent a malformed consistency proof") from exc

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        token = make_peer_assertion(
            self._key,
            org=self._org,
            audience=self.url,
            purpose=PEER_PURPOSE,
            now=now_ms() // 1000,
        )
        headers = {"Authorization": f"Bearer {token}"}
        timeout = aiohttp.ClientTimeout(total=PEER_TIMEOUT_S)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(
                    self.url + path, params=params, headers=headers, ssl=self._tls
                ) as response,
            ):
                if response.status != 200:
                    text = (await response.text())[:300]
                    raise ReferenceError(f"{self.url}{path} answered {response.status}: {text}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ReferenceError(f"cannot read {self.url}{path}: {exc}") from exc
