"""One member's ledger node in its own OS process over a NATS cluster, and the driver that runs it.

``python -m tests.support.ledger_node --root R --org O --servers URL,URL,URL`` starts a
LedgerService and a Checkpointer (no HTTP) on the member's own SQLite store and speaks JSON lines:
one command per stdin line, one reply per stdout line (the first line is a status once ready).
Commands: ``status``; ``load {count, window, rate, acked}`` signs ``count`` access records, then
submits them with ``window`` in flight (``rate`` entries/s, 0 = as fast as acks come) and appends
``tx_id sent_ns acked_ns`` to the ``acked`` file as each is acknowledged; ``halt`` stops submitting
and ``load_wait {timeout}`` waits for the load to end; ``commits {path}`` writes ``tx_id ns`` for
every entry committed since start (``--track-commits``); ``stop``. Times are CLOCK_MONOTONIC, which
one machine's processes share, so a driver can compare them across nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from gateway.clock import now_ms
from gateway.demo.samples import access_body
from gateway.identity.files import load_private_key
from gateway.identity.pseudonym import load_patient_key, patient_ref
from gateway.services.ledger import LedgerService, bootstrap
from ledger.genesis import consortium_id
from ledger.ids import ConsortiumId, OrgId
from ledger.node.checkpointer import Checkpointer
from ledger.ordering.nats import NatsOrdering
from ledger.storage.base import BlockWrite
from ledger.storage.sql import SqlStore

ORGS = ("hospital-a", "insurer-b", "agency-c")


def store_url(root: Path, org: str) -> str:
    return f"sqlite:///{root / org / 'data' / 'nats-ledger.db'}"


class Node:
    """A member's ledger node and checkpointer over NATS; ``open`` starts it, ``close`` stops it."""

    def __init__(
        self, service: LedgerService, checkpointer: Checkpointer, stream: NatsOrdering, track: bool
    ) -> None:
        self.service = service
        self.checkpointer = checkpointer
        self._stream = stream
        self.commits: dict[str, int] = {}
        self.acked = 0
        self.errors: list[str] = []
        self._halted = False
        self._load: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        if track:
            service.on_block(self._track)

    @classmethod
    async def open(
        cls, root: Path, org: str, servers: list[str], *, cut_after: float, track: bool = False
    ) -> Node:
        genesis = (root / "consortium" / "genesis.json").read_bytes()
        cid = consortium_id(genesis)
        key = load_private_key(root / org / "keys" / "signing.key")
        store = SqlStore(store_url(root, org))
        await asyncio.to_thread(bootstrap, store, genesis)
        ordering = await NatsOrdering.connect(servers, cid, replicas=3, client_name=org)
        stream = await NatsOrdering.connect(servers, f"{cid}-checkpoints", 3, client_name=org)
        cp = Checkpointer(OrgId(org), key, store, stream, ConsortiumId(cid))
        service = LedgerService(
            OrgId(org), key, store, ordering, genesis, clock_ms=now_ms, cut_after=cut_after
        )
        node = cls(service, cp, stream, track)
        service.on_block(cp.on_block)
        await service.start()
        await cp.publish_head()
        node._tasks.append(asyncio.create_task(cp.run()))
        return node

    async def _track(self, write: BlockWrite) -> None:
        now = time.monotonic_ns()
        for entry in write.entries:
            self.commits[entry.tx_id] = now

    async def status(self) -> dict[str, Any]:
        head = self.service.committer.head
        final = self.checkpointer.final()
        alarm = self.checkpointer.alarm
        failure = self.service.failure
        return {
            "org": self.service.org,
            "height": head.height,
            "hash": head.hash(),
            "tree_size": head.tree_size,
            "tree_root": head.tree_root,
            "position": await asyncio.to_thread(self.service.store.position),
            # What the committer has read, and how much of it is not yet in a durable block.
            "read": self.service.committer.read_position,
            "pending": self.service.committer.pending,
            "final": None if final is None else final.cp.to_json(),
            "alarm": None if alarm is None else alarm.describe(),
            "failure": None if failure is None else repr(failure),
            "acked": self.acked,
            "loading": self._load is not None and not self._load.done(),
            "errors": self.errors,
        }

    def start_load(self, root: Path, count: int, window: int, rate: float, acked: Path) -> int:
        """Sign ``count`` entries now, then submit them in the background (see module doc)."""
        me = str(self.service.org)
        other = next(org for org in ORGS if org != me)
        pkey = load_patient_key((root / me / "keys" / "patient.key").read_bytes())
        refs = [patient_ref(pkey, f"urn:oid:{me}:mrn", f"MRN-{n:04d}") for n in range(50)]
        items = [
            self.service.sign("access.record", access_body(other, me, refs[n % 50], n))
            for n in range(count)
        ]
        self._halted = False
        self._load = asyncio.create_task(self._submit(items, window, rate, acked))
        return len(items)

    async def _submit(
        self, items: list[tuple[Any, bytes]], window: int, rate: float, acked: Path
    ) -> None:
        pending = iter(enumerate(items))
        start = time.monotonic()
        with acked.open("a", buffering=1, encoding="ascii") as out:

            async def worker() -> None:
                for n, (tx_id, leaf) in pending:  # one shared iterator: each item to one worker
                    if self._halted:
                        return
                    if rate > 0:
                        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
                    sent = time.monotonic_ns()
                    try:
                        await self.service.submit_leaf(leaf, tx_id)
                    except Exception as exc:  # recorded and reported: the driver asserts on it
                        self.errors.append(repr(exc))
                        return
                    out.write(f"{tx_id} {sent} {time.monotonic_ns()}\n")
                    self.acked += 1

            await asyncio.gather(*(worker() for _ in range(min(window, len(items)))))

    async def halt(self, timeout: float) -> None:
        self._halted = True
        await self.load_wait(timeout)

    async def load_wait(self, timeout: float) -> None:
        if self._load is not None:
            await asyncio.wait_for(asyncio.shield(self._load), timeout)

    async def close(self) -> None:
        self._halted = True
        for task in [*self._tasks, *([self._load] if self._load else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.service.stop()
        await self._stream.close()


async def _handle(node: Node, root: Path, cmd: dict[str, Any]) -> dict[str, Any]:
    name = cmd["cmd"]
    if name == "load":
        signed = node.start_load(
            root, cmd["count"], cmd["window"], cmd.get("rate", 0.0), Path(cmd["acked"])
        )
        return {"signed": signed}
    if name == "halt":
        await node.halt(cmd.get("timeout", 60.0))
    elif name == "load_wait":
        await node.load_wait(cmd.get("timeout", 60.0))
    elif name == "commits":
        lines = "".join(f"{tx} {ns}\n" for tx, ns in node.commits.items())
        Path(cmd["path"]).write_text(lines, encoding="ascii")
    elif name != "status":
        return {"error": f"unknown command {name!r}"}
    return await node.status()


async def serve(args: argparse.Namespace) -> None:
    root = Path(args.root)
    servers = args.servers.split(",")
    node = await Node.open(root, args.org, servers, cut_after=args.cut_after, track=args.track)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    _reply(await node.status())
    try:
        while line := await stdin.readline():
            cmd = json.loads(line)
            if cmd["cmd"] == "stop":
                break
            try:
                _reply(await _handle(node, root, cmd))
            except Exception as exc:  # a failed command is answered, not fatal to the node
                _reply({"error": repr(exc)})
    finally:
        await node.close()
    _reply({"stopped": True})


def _reply(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True)
    parser.add_argument("--org", required=True)
    parser.add_argument("--servers", required=True)
    parser.add_argument("--cut-after", type=float, default=0.05)
    parser.add_argument("--track-commits", dest="track", action="store_true")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
