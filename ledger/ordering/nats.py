"""The ``nats`` ordering backend: one JetStream stream per consortium, replicated across members."""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ledger.errors import OrderingError, OrderingMismatchError
from ledger.ordering.base import Ordered
from ledger.ordering.nats_stream import (
    DEDUP_HEADER,
    StreamNames,
    check_next,
    check_resume,
    leader_hears_quorum,
    stream_config,
    stream_names,
)

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_STREAM_NOT_FOUND = 10059
_STREAM_NAME_IN_USE = 10058
_NO_PEERS_FOR_PLACEMENT = 10005
"""A replica's server looks offline right now (restarting, or missing heartbeats under load): the
same request succeeds once it is back, so this 400 is retried within the deadline, not final."""
# A 400, a 404 or a closed connection will not heal by retrying; everything else (timeouts, no responders
# while a new leader is elected, 503s, reconnects) may, and a retry is safe: Nats-Msg-Id dedups it.
_FINAL = (
    nats.js.errors.BadRequestError,
    nats.js.errors.NotFoundError,
    nats.errors.ConnectionClosedError,
    nats.errors.MaxPayloadError,
    nats.errors.BadSubjectError,
    nats.errors.BadHeaderError,
)


@dataclass(frozen=True, slots=True)
class NatsOptions:
    """Tuning. A leader election stalls writes ~5 s, so the deadlines must comfortably exceed it."""

    window: int = 256
    """Publishes awaiting their acknowledgement at once in submit_many (~7,000 acks/s at 256 in
    flight on R3 vs ~350/s one at a time, ARCHITECTURE.md section 8)."""
    publish_timeout_s: float = 2.0
    submit_deadline_s: float = 30.0
    """Total time one submit may spend retrying before it raises OrderingError."""
    read_batch: int = 256
    read_wait_s: float = 1.0
    read_deadline_s: float | None = None
    """How long read() may fail to make progress (reconnecting, recreating its consumer) before
    it raises OrderingError; None (the default): never. A partition heals, and a gateway that
    gave up would stay stopped after it (found by tests/multihost); meanwhile the staleness bound
    keeps it from releasing. Faults that retrying cannot cure (a gap, a shrunk or missing stream)
    still raise at once."""
    read_backoff_max_s: float = 5.0
    """The longest pause between two read attempts while the cluster stays unreachable."""
    connect_timeout_s: float = 10.0
    ping_interval_s: float = 5.0
    """How often the client pings its server. A server cut off by a partition does not close
    the TCP connection: only missed pings reveal it (the client default, 2 min x 2, left a gateway
    attached to an unreachable server for minutes; found by tests/multihost)."""
    max_outstanding_pings: int = 3


class NatsOrdering:
    """The Ordering protocol over JetStream. Create with ``await NatsOrdering.connect(...)``."""

    def __init__(self, nc: Any, names: StreamNames, options: NatsOptions) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._names = names
        self._options = options

    @classmethod
    async def connect(
        cls,
        servers: list[str],
        consortium: str,
        replicas: int = 3,
        *,
        options: NatsOptions | None = None,
        tls: ssl.SSLContext | None = None,
        tls_hostname: str | None = None,
        client_name: str = "medgate",
    ) -> Self:
        """Connect and create the consortium's stream if absent. Idempotent when it exists with the
        same config; an existing stream with another config raises OrderingMismatchError.
        Requires 1 <= replicas <= 5 and replicas <= the cluster size."""
        opts = options or NatsOptions()
        names = stream_names(consortium)
        config = stream_config(names, replicas)
        try:
            nc = await asyncio.wait_for(
                nats.connect(
                    servers=servers,
                    name=client_name,
                    tls=tls,
                    tls_hostname=tls_hostname,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    # Servers in the order given: a gateway lists its own member's server first,
                    # so it orders through its own host and fails over only when that one fails
                    # (randomised, it attached to other members' servers across the network).
                    dont_randomize=True,
                    ping_interval=opts.ping_interval_s,
                    max_outstanding_pings=opts.max_outstanding_pings,
                    error_cb=_log_error,
                ),
                timeout=opts.connect_timeout_s,
            )
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            raise OrderingError(f"cannot connect to NATS {servers}: {exc!r}") from exc
        ordering = cls(nc, names, opts)
        try:
            await ordering._retrying("create stream", lambda: ordering._js.add_stream(config))
        except BaseException:
            await nc.close()
            raise
        return ordering

    @property
    def stream(self) -> str:
        return self._names.stream

    @property
    def subject(self) -> str:
        return self._names.subject

    async def submit(self, data: bytes, dedup_key: str) -> int:
        """Publish with Nats-Msg-Id = dedup_key and wait for the quorum's acknowledgement. A
        duplicate's ack carries the original sequence, which is returned. Requires a key."""
        if not dedup_key:
            raise ValueError("dedup_key must be non-empty")

        async def publish() -> int:
            ack = await self._js.publish(
                self._names.subject,
                data,
                timeout=self._options.publish_timeout_s,
                stream=self._names.stream,  # the server rejects it if the subject maps elsewhere
                headers={DEDUP_HEADER: dedup_key},
            )
            return int(ack.seq)

        return await self._retrying("submit", publish)

    async def submit_many(self, items: list[tuple[bytes, str]]) -> list[int]:
        """Submit with up to ``options.window`` acknowledgements in flight; positions in input
        order. On failure nothing is rolled back: resubmitting the same items is safe (dedup)."""
        positions = [0] * len(items)
        pending = iter(enumerate(items))

        async def worker() -> None:
            # The shared iterator hands each index to exactly one worker (no await between next()s).
            for index, (data, key) in pending:
                positions[index] = await self.submit(data, key)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self._options.window, len(items))):
                    group.create_task(worker())
        except BaseExceptionGroup as group_error:
            raise group_error.exceptions[0] from None
        return positions

    async def read(self, after: int) -> AsyncGenerator[Ordered, None]:
        """Positions after ``after`` in order, following new ones. Checks first that the stream
        still holds everything after ``after`` (else OrderingGapError / OrderingMismatchError), then
        that each position is the previous + 1 (else OrderingGapError). Survives reconnects and lost
        consumers by resuming from the last yielded position. Requires after >= 0."""
        first, last = await self._retrying("stream info", self._bounds)
        check_resume(after, first, last)
        position, sub, failing_since = after, None, None
        try:
            while True:
                _raise_if_cancelling()
                try:
                    if sub is None:
                        sub = await self._reader(position + 1)
                    batch = await self._next_batch(sub, position)
                except (nats.errors.Error, _StaleReaderError) as exc:
                    _raise_if_cancelling(exc)
                    # A 404 here is usually our consumer, lost with its server: make another.
                    lost = isinstance(exc, nats.js.errors.NotFoundError)
                    if isinstance(exc, _FINAL) and not lost:
                        raise OrderingError(f"reading {self._names.stream}: {exc!r}") from exc
                    failing_since = await self._pause_or_give_up(exc, failing_since)
                    await self._dispose(sub)
                    sub = None
                    continue
                for msg in batch:
                    check_next(position + 1, msg.metadata.sequence.stream)
                    position += 1
                    failing_since = None
                    yield Ordered(position, msg.data)
        finally:
            await self._dispose(sub)

    async def get(self, position: int) -> Ordered:
        """The entry at ``position`` (e.g. to cross-check the one stored with the last block)."""
        raw = await self._retrying(
            "get", lambda: self._js.get_msg(self._names.stream, position, direct=True)
        )
        return Ordered(int(raw.seq), bytes(raw.data or b""))

    async def last_position(self) -> int:
        _, last = await self._retrying("stream info", self._bounds)
        return last

    async def confirmed_last_position(self, max_silence_s: float) -> int:
        """The stream's last position, only from a leader that heard a quorum of the stream's
        replicas within ``max_silence_s`` (``leader_hears_quorum``): what a gateway may take as
        the consortium's tail when it confirms its view is fresh. Raises OrderingError otherwise
        (and as ``last_position`` does)."""
        info = await self._retrying("stream info", lambda: self._js.stream_info(self._names.stream))
        if not leader_hears_quorum(info.cluster, max_silence_s):
            raise OrderingError(f"the leader of {self._names.stream} does not hear a quorum")
        return int(info.state.last_seq)

    async def close(self) -> None:
        """Close the connection; while every server is unreachable (a partition, a gateway
        stopping during one) the client cannot flush, which is no reason to fail the shutdown."""
        if not self._nc.is_closed:
            try:
                await self._nc.close()
            except (OSError, nats.errors.Error) as exc:
                _log.warning("nats connection closed uncleanly: %r", exc)

    async def _bounds(self) -> tuple[int, int]:
        info = await self._js.stream_info(self._names.stream)
        return int(info.state.first_seq), int(info.state.last_seq)

    async def _reader(self, start: int) -> Any:
        """An ephemeral pull consumer from ``start``: unacknowledged, in memory, R1, removed by the
        server if this reader vanishes. The stream itself holds the truth, so losing it is cheap."""
        name = f"reader-{secrets.token_hex(8)}"
        config = ConsumerConfig(
            name=name,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=AckPolicy.NONE,
            filter_subject=self._names.subject,
            inactive_threshold=30.0,
            mem_storage=True,
            num_replicas=1,
        )
        await self._js.add_consumer(self._names.stream, config)
        return await self._js.pull_subscribe_bind(consumer=name, stream=self._names.stream)

    async def _next_batch(self, sub: Any, position: int) -> list[Any]:
        try:
            return list(
                await sub.fetch(self._options.read_batch, timeout=self._options.read_wait_s)
            )
        except TimeoutError:
            pass
        # Nothing arrived: fine if the stream has nothing new; if it has, our consumer is gone
        # (its server restarted) or stuck, so make a new one from where we are.
        _, last = await self._bounds()
        if last < position:
            raise OrderingMismatchError(position, f"stream shrank to {last} while reading")
        if last > position:
            raise _StaleReaderError(f"stream at {last}, reader stuck at {position}")
        return []

    async def _pause_or_give_up(self, exc: Exception, failing_since: float | None) -> float:
        if isinstance(exc, nats.js.errors.NotFoundError) and exc.err_code == _STREAM_NOT_FOUND:
            raise OrderingMismatchError(0, f"stream {self._names.stream} is gone") from exc
        now = asyncio.get_running_loop().time()
        since = now if failing_since is None else failing_since
        deadline = self._options.read_deadline_s
        if deadline is not None and now - since > deadline:
            raise OrderingError(f"reader made no progress for {now - since:.1f}s: {exc!r}") from exc
        _log.warning("nats reader recovering from %r (%.1f s without progress)", exc, now - since)
        # 0.2 s at first, then a quarter of the outage so far: a long partition is not a log storm.
        await asyncio.sleep(min(self._options.read_backoff_max_s, max(0.2, (now - since) / 4)))
        return since

    async def _dispose(self, sub: Any) -> None:
        if sub is None:
            return
        try:
            await sub.unsubscribe()
        except nats.errors.Error as exc:  # the server drops an idle ephemeral consumer anyway
            _log.debug("nats reader unsubscribe failed: %r", exc)

    async def _retrying(self, what: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``call`` until it succeeds, a final error occurs or the submit deadline passes.
        Backoff doubles from 50 ms to 1 s; attempts are bounded by the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._options.submit_deadline_s
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await call()
            except _FINAL as exc:
                _raise_if_cancelling(exc)
                if not _transient(exc) or loop.time() + 0.25 > deadline:
                    raise _translate(what, self._names.stream, exc) from exc
                _log.debug(
                    "nats %s attempt %d: placement not possible yet (%r)", what, attempt, exc
                )
                await asyncio.sleep(0.25)
                continue
            except nats.errors.Error as exc:
                _raise_if_cancelling(exc)
                delay = min(0.05 * 2**attempt, 1.0)
                if loop.time() + delay > deadline:
                    raise OrderingError(f"{what}: gave up after {attempt} attempts: {exc}") from exc
                _log.debug("nats %s attempt %d failed (%r); retrying", what, attempt, exc)
                await asyncio.sleep(delay)
                continue
            # A cancel that nats-py swallowed while the publish completed must still end the task.
            _raise_if_cancelling()
            return result


class _StaleReaderError(Exception):
    """Internal: the reader's consumer stopped delivering although the stream has more."""


def _raise_if_cancelling(exc: Exception | None = None) -> None:
    """Never retry or read on once our task is being cancelled. nats-py turns a cancellation inside
    ``js.publish`` into TooManyStalledMsgsError, and 3.11's wait_for (inside ``fetch``) can swallow
    one; carrying on would make the task deaf to cancel(), and ``LedgerService.stop`` or a
    checkpointer's shutdown would hang for good."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


def _transient(exc: Exception) -> bool:
    return isinstance(exc, nats.js.errors.APIError) and exc.err_code == _NO_PEERS_FOR_PLACEMENT


def _translate(what: str, stream: str, exc: Exception) -> OrderingError:
    if isinstance(exc, nats.js.errors.APIError) and exc.err_code == _STREAM_NAME_IN_USE:
        return OrderingMismatchError(0, f"stream {stream} exists with a different config: {exc}")
    return OrderingError(f"{what} on {stream} rejected: {exc}")


async def _log_error(exc: Exception) -> None:
    _log.warning("nats connection: %r", exc)
