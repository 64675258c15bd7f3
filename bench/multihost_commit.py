"""Benchmark: a consortium on three network-namespace hosts (tests/multihost), each member with its own
PostgreSQL, NATS server (one JetStream cluster, TLS routes, mutually authenticated TLS clients) and
gateway, all started from the kits `medgate deploy render` writes; against the raw TLS publish rate
of the same cluster, same run. Needs root (namespaces).

The two hospitals' hosts publish access records signed with their own keys through their own NATS
server over TLS (as their gateways would); every gateway validates and commits them to its own
PostgreSQL store. The bench watches each store's head from inside its host. Prints one JSON object:
  entries_per_s      entries committed on every member per second: from the first publish to the
                     last commit on the slowest member, ``--entries`` published with ``--window`` in
                     flight per publishing host (saturation)
  paced_rate         half of entries_per_s: the offered rate of the latency run
  p50_ms, p99_ms     at paced_rate: publish -> committed on every member, per entry (CLOCK_MONOTONIC
                     of this one process; heads polled every ~10 ms, so add up to ~10 ms)
  raw_publish_per_s  acknowledged publishes per second over TLS to a scratch R3 stream of the same
                     cluster, same entry size and the same total window, from the same hosts
  ratio              entries_per_s / raw_publish_per_s
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gateway.clock import now_ms
from gateway.demo.samples import access_body
from gateway.identity.consortium import MemberSpec
from gateway.identity.files import load_private_key
from gateway.settings import Settings
from gateway.tls import nats_client_context
from ledger.entries import make_tx, nonce_from_bytes, signed_entry
from ledger.ids import OrgId, TxId
from ledger.ordering.nats import NatsOptions, NatsOrdering
from ledger.signing import kid_of
from ledger.storage.sql import SqlStore

# Run as ``python bench/multihost_commit.py``: the harness it drives lives in the repo's tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.multihost.consortium import HostConsortium
from tests.multihost.member import MemberHost

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-b", "hospital"),
    MemberSpec("insurer", "insurer"),
]
PUBLISHERS = ("hospital-a", "hospital-b")
POLL_S = 0.01


def sign_entries(member: MemberHost, count: int, offset: int) -> list[tuple[bytes, str]]:
    """``count`` access records by ``member`` (custodian) for the insurer, signed with its key."""
    key = load_private_key(member.gateway.folder / "keys" / "signing.key")
    kid = kid_of(key.public_key())
    out = []
    for n in range(offset, offset + count):
        body = access_body("insurer", member.org, "P" * 43, n)
        nonce = nonce_from_bytes(secrets.token_bytes(16))
        tx = make_tx("access.record", OrgId(member.org), kid, now_ms(), nonce, body)
        tx_id, leaf = signed_entry(tx, key)
        out.append((leaf, str(tx_id)))
    return out


async def _connect(member: MemberHost, stream: str) -> NatsOrdering:
    settings = Settings.load(member.config)
    return await NatsOrdering.connect(
        list(settings.ordering.nats_servers)[:1],  # its own member's server
        stream,
        3,
        tls=nats_client_context(settings),
        options=NatsOptions(window=1024),
    )


def publish(
    member: MemberHost, stream: str, items: list[tuple[bytes, str]], window: int, rate: float
) -> dict[str, int]:
    """Publish ``items`` from ``member``'s host through its own server; tx -> sent monotonic ns.
    ``rate`` > 0 paces the publishes (entries/s), else ``window`` are kept in flight."""

    async def run() -> dict[str, int]:
        ordering = await _connect(member, stream)
        sent: dict[str, int] = {}
        try:
            if rate <= 0:
                sent.update((tx, time.monotonic_ns()) for _, tx in items)
                for first in range(0, len(items), window):
                    await ordering.submit_many(items[first : first + window])
                return sent
            start = time.monotonic()
            tasks = []
            for n, (leaf, tx) in enumerate(items):
                delay = start + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent[tx] = time.monotonic_ns()
                tasks.append(asyncio.create_task(ordering.submit(leaf, tx)))
            await asyncio.gather(*tasks)
            return sent
        finally:
            await ordering.close()

    return member.host.call(lambda: asyncio.run(run()))


class HeadWatch:
    """Polls ``member``'s store head from inside its host: (monotonic ns, tree_size) changes."""

    def __init__(self, member: MemberHost) -> None:
        self.member = member
        self.changes: list[tuple[int, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        def loop() -> None:
            store = SqlStore(self.member.gateway.ledger_url)
            try:
                while not self.stop.is_set():
                    head = store.head()
                    size = 0 if head is None else head.tree_size
                    if not self.changes or self.changes[-1][1] != size:
                        self.changes.append((time.monotonic_ns(), size))
                    time.sleep(POLL_S)
            finally:
                store.close()

        self.member.host.call(loop)

    def size(self) -> int:
        return self.changes[-1][1] if self.changes else 0

    def committed_at(self, index: int) -> int:
        """When the head first covered leaf ``index``."""
        sizes = [size for _, size in self.changes]
        at = bisect.bisect_right(sizes, index)
        return self.changes[at][0]


def run_phase(
    c: HostConsortium, items: dict[str, list[tuple[bytes, str]]], window: int, rate: float
) -> tuple[list[float], float]:
    """Publish every publisher's items at once; latencies (ms) and seconds first send -> last
    commit everywhere."""
    members = list(c.members.values())
    watches = [HeadWatch(m) for m in members]
    for watch in watches:
        watch.thread.start()
    sent: dict[str, int] = {}
    lock = threading.Lock()

    def one(org: str) -> None:
        got = publish(c[org], c.consortium_id, items[org], window, rate / len(items))
        with lock:
            sent.update(got)

    threads = [threading.Thread(target=one, args=(org,)) for org in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    reader = members[0].gateway
    target: dict[str, int] = {}

    def indexes(store: SqlStore) -> dict[str, int]:
        return {tx: store.entry_by_tx(TxId(tx)).index for tx in sent}  # type: ignore[union-attr]

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            target = reader.read_state(indexes)
            last = max(target.values())
            if all(w.size() > last for w in watches):
                break
        except AttributeError:  # not yet committed on the reader
            pass
        time.sleep(0.1)
    for watch in watches:
        watch.stop.set()
        watch.thread.join(timeout=30)
    if len(target) != len(sent):
        raise RuntimeError(f"only {len(target)} of {len(sent)} entries committed in time")
    everywhere = {tx: max(w.committed_at(i) for w in watches) for tx, i in target.items()}
    latencies = [(everywhere[tx] - sent[tx]) / 1e6 for tx in sent]
    seconds = (max(everywhere.values()) - min(sent.values())) / 1e9
    return latencies, seconds


def raw_rate(c: HostConsortium, size: int, count: int, window: int) -> float:
    """Acknowledged TLS publishes per second to a scratch stream, from both publishing hosts."""
    stream = f"bench-{secrets.token_hex(6)}"
    payload = secrets.token_bytes(size)
    per = count // len(PUBLISHERS)
    results: list[tuple[int, int]] = []

    def one(org: str) -> None:
        items = [(payload, f"{org}-{i}") for i in range(per)]

        async def run() -> tuple[int, int]:
            ordering = await _connect(c[org], stream)
            try:
                start = time.monotonic_ns()  # the stream exists: creating it is idempotent
                for first in range(0, len(items), window):
                    await ordering.submit_many(items[first : first + window])
                return start, time.monotonic_ns()
            finally:
                await ordering.close()

        results.append(c[org].host.call(lambda: asyncio.run(run())))

    threads = [threading.Thread(target=one, args=(org,)) for org in PUBLISHERS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    seconds = (max(end for _, end in results) - min(start for start, _ in results)) / 1e9
    return per * len(PUBLISHERS) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=3000, help="saturation run, in total")
    parser.add_argument("--window", type=int, default=128, help="in flight per publishing host")
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="latency run length")
    args = parser.parse_args()
    per = args.entries // len(PUBLISHERS)
    with tempfile.TemporaryDirectory() as tmp, HostConsortium(Path(tmp), MEMBERS) as c:
        items = {org: sign_entries(c[org], per, 0) for org in PUBLISHERS}
        size = len(items[PUBLISHERS[0]][0][0])
        raw = raw_rate(c, size, per * len(PUBLISHERS), args.window)
        latencies, seconds = run_phase(c, items, args.window, 0.0)
        rate = len(latencies) / seconds
        paced = rate / 2
        count = max(len(PUBLISHERS), int(paced * args.paced_seconds) // len(PUBLISHERS))
        later = {org: sign_entries(c[org], count, per) for org in PUBLISHERS}
        paced_latencies, _ = run_phase(c, later, args.window, paced)
    cuts = statistics.quantiles(paced_latencies, n=100, method="inclusive")
    report: dict[str, Any] = {
        "hosts": len(MEMBERS),
        "publishing_hosts": len(PUBLISHERS),
        "replicas": 3,
        "tls": True,
        "store": "postgresql",
        "entries": len(latencies),
        "window_per_host": args.window,
        "entry_bytes": size,
        "cores": os.cpu_count(),
        "entries_per_s": round(rate),
        "paced_rate": round(paced),
        "paced_entries": len(paced_latencies),
        "p50_ms": round(cuts[49], 1),
        "p99_ms": round(cuts[98], 1),
        "raw_publish_per_s": round(raw),
        "ratio": round(rate / raw, 3),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
