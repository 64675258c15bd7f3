"""Member "hosts" in Linux network namespaces joined by a bridge: the multi-host test harness.

``with Network(workdir) as net:`` creates a namespace holding only a bridge; ``net.add_host(name)``
adds a namespace for one member host, linked to the bridge by a veth pair, with loopback up and one
address from 198.18.0.0/15 (RFC 2544's benchmarking range: it exists only inside these namespaces,
nothing outside them is ever addressed). A host runs processes (``spawn``), SIGKILLs every process
in its namespace (``kill_all``: a host loss), and is cut off and healed by setting its veth down and
up on the bridge side (``partition``/``heal``). The test process itself talks to a host's services
from *inside* that host: ``host.transport()`` is an httpx transport whose sockets are opened by a
thread that has entered the namespace (setns), so a cut-off member stays reachable by its own
clients, as it would be on its own premises.

Every name carries a per-run token, so parallel runs never clash. ``close`` (also on exceptions)
kills every process of every namespace, deletes the namespaces (which destroys the veths and the
bridge) and leaves nothing behind. Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN); without it,
``Network`` raises HostError: the tests fail, they never skip.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx

SUBNET_PREFIX = 15
FIRST_ADDRESS = "198.18.1."
"""Hosts get 198.18.1.10, .11, ...; the /15 keeps every address inside the test-only range."""
_CLONE_NEWNET = 0x40000000
_CMD_TIMEOUT_S = 30
T = TypeVar("T")


class HostError(RuntimeError):
    """A namespace, link or process of the harness could not be set up; carries the command."""


def _ip(*args: str) -> None:
    run_checked(["ip", *args])


def run_checked(argv: Sequence[str], timeout: float = _CMD_TIMEOUT_S) -> str:
    """Run a setup command; HostError naming it and its stderr when it fails."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HostError(f"{' '.join(argv)}: {exc}") from exc
    if done.returncode != 0:
        raise HostError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _enter_netns(name: str) -> None:
    """Move the *calling thread* into network namespace ``name`` (setns is per thread)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise HostError(f"setns into {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


@dataclass
class HostProcess:
    """A process started in a host's namespace; ``log`` gets its stdout and stderr."""

    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no log)"
        return text[-chars:]

    def terminate(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; reaps it."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)


@dataclass
class Host:
    """One member host: a namespace, its address, its veth (bridge side) and its processes."""

    name: str
    netns: str
    address: str
    bridge_side: str
    bridge_netns: str
    workdir: Path
    processes: dict[str, HostProcess] = field(default_factory=dict)
    _pool: ThreadPoolExecutor | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        cwd: Path | None = None,
    ) -> HostProcess:
        """Start ``argv`` inside this host's namespace (as ``user`` when given), its output in
        ``workdir/logs/<name>.log``; the process is remembered under ``name``."""
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        as_user = ["runuser", "-u", user, "--"] if user else []
        full = ["ip", "netns", "exec", self.netns, *as_user, *argv]
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                full,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        process = HostProcess(name, list(argv), log_path, popen)
        self.processes[name] = process
        return process

    def run(self, argv: Sequence[str], *, user: str | None = None, timeout: float = 120) -> str:
        """Run ``argv`` to completion inside the namespace; its stdout, HostError on failure."""
        as_user = ["runuser", "-u", user, "--"] if user else []
        return run_checked(["ip", "netns", "exec", self.netns, *as_user, *argv], timeout)

    def exec(
        self, argv: Sequence[str], *, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the namespace and return its result, whatever its exit code."""
        return subprocess.run(
            ["ip", "netns", "exec", self.netns, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def pids(self) -> list[int]:
        """Every process living in this host's network namespace (ours and their children)."""
        out = run_checked(["ip", "netns", "pids", self.netns])
        return [int(p) for p in out.split()]

    def kill_all(self) -> int:
        """SIGKILL every process in the namespace (a host loss: no shutdown of any kind) and wait
        until each is reaped, so a restarted PostgreSQL does not mistake a zombie for a live
        postmaster. Returns how many were killed. Bounded: HostError after 15 s."""
        killed: set[int] = set()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
            time.sleep(0.05)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=5)
        # Daemons (the postmaster) are reaped by PID 1; until then they linger as zombies.
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in killed):
            time.sleep(0.05)
        left = self.pids() + [p for p in killed if Path(f"/proc/{p}").exists()]
        if left:
            raise HostError(f"{self.name}: processes survive SIGKILL: {left}")
        return len(killed)

    def partition(self) -> None:
        """Cut this host off the network: its veth goes down on the bridge side."""
        _ip("-n", self.bridge_netns, "link", "set", self.bridge_side, "down")

    def heal(self) -> None:
        _ip("-n", self.bridge_netns, "link", "set", self.bridge_side, "up")

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a thread that lives in this host's namespace (sockets it opens are
        this host's sockets)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=4,
                    thread_name_prefix=f"netns-{self.name}",
                    initializer=_enter_netns,
                    initargs=(self.netns,),
                )
            pool = self._pool
        return pool.submit(fn).result()

    def transport(self, **kwargs: object) -> httpx.BaseTransport:
        """An httpx transport connecting from inside this host (kwargs go to HTTPTransport)."""
        return NetnsTransport(self, httpx.HTTPTransport(**kwargs))  # type: ignore[arg-type]

    def close_threads(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class NetnsTransport(httpx.BaseTransport):
    """Sends each request from a thread inside ``host``'s namespace (the response body is read
    from the already-open socket by whichever thread reads it)."""

    def __init__(self, host: Host, inner: httpx.HTTPTransport) -> None:
        self._host = host
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._host.call(lambda: self._inner.handle_request(request))

    def close(self) -> None:
        self._inner.close()


class Network:
    """The bridge namespace and every host added to it; ``close`` removes all of it."""

    def __init__(self, workdir: Path) -> None:
        self.token = secrets.token_hex(3)
        self.workdir = workdir
        self.bridge_netns = f"mh-{self.token}-net"
        self.hosts: dict[str, Host] = {}
        self._created: list[str] = []

    def __enter__(self) -> Network:
        try:
            self._ns(self.bridge_netns)
            _ip("-n", self.bridge_netns, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.bridge_netns, "link", "set", "br0", "up")
            _ip("-n", self.bridge_netns, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def add_host(self, name: str) -> Host:
        """A new namespace linked to the bridge, with the next 198.18.1.x/15 address."""
        index = len(self.hosts)
        netns = f"mh-{self.token}-{name}"
        # Interface names are at most 15 characters: the token keeps them unique per run.
        outside, inside = f"mh{self.token}b{index}", f"mh{self.token}h{index}"
        address = f"{FIRST_ADDRESS}{10 + index}"
        self._ns(netns)
        _ip("-n", self.bridge_netns, "link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("-n", self.bridge_netns, "link", "set", inside, "netns", netns)
        _ip("-n", self.bridge_netns, "link", "set", outside, "master", "br0")
        _ip("-n", self.bridge_netns, "link", "set", outside, "up")
        _ip("-n", netns, "addr", "add", f"{address}/{SUBNET_PREFIX}", "dev", inside)
        _ip("-n", netns, "link", "set", inside, "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        host = Host(name, netns, address, outside, self.bridge_netns, folder)
        self.hosts[name] = host
        return host

    def close(self) -> None:
        """Kill every process in every namespace we made, then delete the namespaces."""
        errors: list[str] = []
        for host in self.hosts.values():
            host.close_threads()
            try:
                host.kill_all()
            except HostError as exc:
                errors.append(str(exc))
        for netns in reversed(self._created):
            try:
                _ip("netns", "delete", netns)
            except HostError as exc:
                errors.append(str(exc))
        self._created.clear()
        if errors:
            raise HostError("teardown: " + "; ".join(errors))

    def _ns(self, name: str) -> None:
        if os.geteuid() != 0:
            raise HostError("network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN)")
        _ip("netns", "add", name)
        self._created.append(name)
