"""Bounded staleness: how long ago this gateway last confirmed it held the whole ledger.

ARCHITECTURE.md principle 3 ("a stale view: deny"): a gateway cut off from the ordering service
cannot know whether a revocation was ordered since; past a bound it must stop releasing. The age
is not the time since the last block (an idle consortium has none), but the time since the gateway
last *confirmed* it was in sync: a probe asks the ordering service for its last position L (nats:
stream info; solo: the log's tail), then waits until this node's committer has every entry up to
L in durably committed blocks; the view is then confirmed as of the moment the probe *asked*.
Anything ordered before that moment is in our view; only what came after may be missing.

Times are on the injected ``monotonic`` clock (tests drive it); the probe's own timeouts are on the
event loop's clock, so a frozen test clock cannot hang it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from ledger.errors import LedgerError

log = logging.getLogger("medgate.staleness")
WAIT_STEP_S = 0.01


class ViewAge:
    """Runs the probe (``start``/``stop``) and answers how old this member's view is.

    ``last_position`` asks the ordering service for its last position; ``synced_position`` is
    the committer's (ledger.node.committer.Committer.synced_position). Requires bound_s > 0."""

    def __init__(
        self,
        last_position: Callable[[], Awaitable[int]],
        synced_position: Callable[[], int],
        *,
        bound_s: float,
        monotonic: Callable[[], float] = time.monotonic,
        interval_s: float | None = None,
    ) -> None:
        if bound_s <= 0:
            raise ValueError("the staleness bound must be positive")
        self.bound_s = bound_s
        self._last_position = last_position
        self._synced = synced_position
        self._monotonic = monotonic
        # Probe several times per bound, so one slow probe does not make a healthy view stale.
        self._interval_s = interval_s if interval_s is not None else min(1.0, bound_s / 5)
        self._probe_timeout_s = max(bound_s, 1.0)
        self._started_at = monotonic()
        self._confirmed_at: float | None = None
        self._first = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    @property
    def confirmed(self) -> bool:
        return self._confirmed_at is not None

    def age_s(self) -> float:
        """Seconds since the view was last confirmed in sync (since start if never)."""
        since = self._confirmed_at if self._confirmed_at is not None else self._started_at
        return max(0.0, self._monotonic() - since)

    def stale_reason(self) -> str | None:
        """Why releases must stop now, or None while the view is within the bound."""
        if self._confirmed_at is None:
            return "ledger view stale: not yet confirmed in sync with the ordering service"
        age = self.age_s()
        if age <= self.bound_s:
            return None
        return (
            f"ledger view stale: last confirmed in sync {round(age * 1000)} ms ago "
            f"(bound {round(self.bound_s * 1000)} ms)"
        )

    async def start(self, first_within_s: float = 0.0) -> None:
        """Start probing; wait up to ``first_within_s`` for the first confirmation (a gateway
        starting with a caught-up store then serves at once; one far behind starts stale)."""
        self._task = asyncio.create_task(self._run(), name="ledger-view-age")
        if first_within_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._first.wait(), first_within_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def probe(self) -> bool:
        """One probe: True when it confirmed the view (as of the moment it asked)."""
        asked_at = self._monotonic()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._probe_timeout_s
        try:
            target = await asyncio.wait_for(self._last_position(), self._probe_timeout_s)
        except (LedgerError, TimeoutError, OSError) as exc:
            self._note_failure(exc)
            return False
        while self._synced() < target:
            if loop.time() > deadline:
                self._note_failure(TimeoutError(f"not caught up to position {target}"))
                return False
            await asyncio.sleep(WAIT_STEP_S)
        if self._confirmed_at is None or asked_at > self._confirmed_at:
            self._confirmed_at = asked_at
        self._first.set()
        if self._failing:
            log.info("ledger view confirmed in sync again")
            self._failing = False
        return True

    def _note_failure(self, exc: BaseException) -> None:
        if not self._failing:  # once per outage, not once per probe
            log.warning("ledger view not confirmed", extra={"error": repr(exc)})
            self._failing = True

    async def _run(self) -> None:
        while True:
            try:
                await self.probe()
            except Exception as exc:  # never let the probe die: its silence would look fresh later
                self._note_failure(exc)
            await asyncio.sleep(self._interval_s)
