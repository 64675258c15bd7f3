"""The checkpointer inside a gateway: built on the checkpoint stream, run with the app's lifespan.

Start order matters: the checkpointer's ``on_block`` is registered with the ledger node before the
node starts (so no committed block goes unsigned), and ``publish_head`` runs once at start in case
the gateway stopped between committing a block and publishing its checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.services.ledger import LedgerService, bootstrap
from ledger.ids import ConsortiumId
from ledger.node.checkpointer import Checkpointer
from ledger.ordering.base import Ordering

log = logging.getLogger("medgate.gateway.checkpoints")


class CheckpointService:
    """Owns the checkpoint stream and the checkpointer's task."""

    def __init__(self, checkpointer: Checkpointer, stream: Ordering) -> None:
        self.checkpointer = checkpointer
        self._stream = stream
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def attach(
        cls,
        ledger: LedgerService,
        signing_key: ec.EllipticCurvePrivateKey,
        stream: Ordering,
        consortium: ConsortiumId,
        genesis: bytes,
    ) -> CheckpointService:
        """A checkpointer for ``ledger``'s member, registered on its blocks. Requires the ledger
        node not started yet; bootstraps its store (block 0) since the checkpointer reads it."""
        await asyncio.to_thread(bootstrap, ledger.store, genesis)
        checkpointer = Checkpointer(ledger.org, signing_key, ledger.store, stream, consortium)
        ledger.on_block(checkpointer.on_block)
        return cls(checkpointer, stream)

    @property
    def failure(self) -> BaseException | None:
        """Why the checkpoint follower stopped, if it did (a gateway then stops releasing)."""
        task = self._task
        if task is not None and task.done() and not task.cancelled():
            return task.exception()
        return None

    async def start(self) -> None:
        await self.checkpointer.publish_head()
        self._task = asyncio.create_task(self.checkpointer.run(), name="checkpointer")

    async def stop(self) -> None:
        """Stop following the stream; ``close`` it after the ledger node stopped, since the
        node's last blocks still publish their checkpoints on it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def close(self) -> None:
        await self._stream.close()
