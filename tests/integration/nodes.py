"""Drive member ledger nodes, each in its own OS process (tests/support/ledger_node.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from gateway.identity.consortium import MemberSpec, create_consortium
from ledger.ordering.nats import NatsOrdering

REPO = Path(__file__).resolve().parents[2]
MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("insurer-b", "insurer"),
    MemberSpec("agency-c", "agency"),
]
START_TIMEOUT_S = 60.0


def make_consortium(root: Path) -> str:
    """Three members' material under ``root``; returns the consortium id."""
    return create_consortium(root, "medgate integration", MEMBERS).consortium_id


class NodeProcess:
    """One member's node process. ``start`` (again after ``kill``) resumes from its own store."""

    def __init__(
        self, root: Path, org: str, servers: list[str], *, cut_after: float = 0.05, track: bool
    ) -> None:
        self.root = root
        self.org = org
        self.argv = [
            sys.executable,
            "-m",
            "tests.support.ledger_node",
            f"--root={root}",
            f"--org={org}",
            f"--servers={','.join(servers)}",
            f"--cut-after={cut_after}",
            *(["--track-commits"] if track else []),
        ]
        self.log = root / org / "node.log"
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> dict[str, Any]:
        """Spawn the process and wait (bounded) for its first status line."""
        with self.log.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=REPO,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        return await self._read(START_TIMEOUT_S)

    async def request(
        self, cmd: str, reply_within: float | None = None, **args: Any
    ) -> dict[str, Any]:
        """Send a command; its reply is awaited for ``reply_within`` seconds (by default a little
        longer than the command's own ``timeout`` argument, if any)."""
        proc = self._running()
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        await proc.stdin.drain()
        reply = await self._read(reply_within or float(args.get("timeout", 60.0)) + 10.0)
        if "error" in reply:
            raise RuntimeError(f"{self.org} {cmd}: {reply['error']}")
        return reply

    async def status(self) -> dict[str, Any]:
        return await self.request("status", 10.0)

    def kill(self) -> None:
        """SIGKILL by PID: a crash, no cleanup of any kind."""
        proc = self._running()
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)

    async def wait_exit(self, timeout: float = 30.0) -> int:
        proc = self._running()
        code = await asyncio.wait_for(proc.wait(), timeout)
        self._proc = None
        return code

    async def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop; kills the process if it does not exit in time."""
        if self._proc is None:
            return
        try:
            await self.request("stop", timeout)
            await self.wait_exit(timeout)
        except (TimeoutError, RuntimeError, ConnectionError):
            self.kill()
            await self.wait_exit(timeout)

    def _running(self) -> asyncio.subprocess.Process:
        if self._proc is None:
            raise RuntimeError(f"{self.org}'s node is not running")
        return self._proc

    async def _read(self, timeout: float) -> dict[str, Any]:
        proc = self._running()
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        if not line:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.org}'s node exited:\n{tail}")
        reply: dict[str, Any] = json.loads(line)
        return reply


def read_acked(path: Path) -> dict[str, tuple[int, int]]:
    """tx_id -> (sent_ns, acked_ns) from a node's acked file; a torn last line (SIGKILL) is ignored."""
    if not path.exists():
        return {}
    out: dict[str, tuple[int, int]] = {}
    for line in path.read_text(encoding="ascii").splitlines(keepends=True):
        parts = line.split()
        if line.endswith("\n") and len(parts) == 3:
            out[parts[0]] = (int(parts[1]), int(parts[2]))
    return out


async def converge(
    nodes: list[NodeProcess], ordering: NatsOrdering, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Wait until every node has read the whole stream with all of it in durable blocks and all
    heads are equal; return their statuses. Raises TimeoutError with them. (A store's own position
    stops at its last block: markers after it with nothing pending commit nothing.)"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        last = await ordering.last_position()
        statuses = [await node.status() for node in nodes]
        for status in statuses:
            assert status["failure"] is None, status
        done = all(s["read"] == last and s["pending"] == 0 for s in statuses)
        if done and len({s["hash"] for s in statuses}) == 1:
            return statuses
        if loop.time() > deadline:
            raise TimeoutError(f"no convergence at stream position {last}: {statuses}")
        await asyncio.sleep(0.2)
