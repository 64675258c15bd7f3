"""Benchmark: a three-member consortium committing on a real R3 NATS cluster, against the raw
ordering ceiling of the same cluster, same run.

Starts a 3-server JetStream cluster (``sync_interval: always``) on loopback and three member nodes,
each in its own OS process with its own SQLite store (tests/support/ledger_node.py: LedgerService +
Checkpointer). Every node signs its share of access records first, then submits them with a window
of acknowledgements in flight; the window is split evenly between the three gateways, so the cluster
sees the same number in flight as the raw measurement. Then a second consortium on the same cluster
takes a paced load at half the rate the first one reached (``--paced-seconds`` long), as
bench/multihost_commit.py does: the commit latency below saturation, without root. Prints one JSON
object:
  entries_per_s      entries submitted from all three gateways and committed on all three, per
                     second from the first submit to the last commit on the slowest node
  saturated_p50_ms, saturated_p99_ms
                     per entry of that run: submit -> committed on every node (CLOCK_MONOTONIC,
                     shared by the processes of one machine); mostly the queue the window builds
  paced_rate         the offered rate of the latency run: half of entries_per_s
  p50_ms, p99_ms     per entry at paced_rate: submit -> committed on every node
  raw_publish_per_s  acknowledged publishes per second of same-sized messages to the same cluster with
                     the same window (ledger.ordering.nats_bench.measure_publish_rate)
  ratio              entries_per_s / raw_publish_per_s   (bar: ratio >= 0.5, p99_ms <= 250)
With ``--rate``, only one run at that offered rate: entries_per_s, p50_ms and p99_ms are its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from gateway.clock import now_ms
from gateway.demo.samples import access_body
from gateway.identity.files import load_private_key
from ledger.entries import make_tx, nonce_from_bytes, sign_entry
from ledger.genesis import consortium_id
from ledger.ids import OrgId
from ledger.ordering.nats import NatsOrdering
from ledger.ordering.nats_bench import measure_publish_rate
from ledger.signing import kid_of

# Run as ``python bench/consortium_commit.py``: the test harness it drives lives in the repo's tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.nodes import (
    MEMBERS,
    NodeProcess,
    converge,
    make_consortium,
    read_acked,
)
from tests.support.nats_cluster import NatsCluster


def entry_size(root: Path) -> int:
    """The size of one signed access record like those the nodes submit (for the raw baseline)."""
    key = load_private_key(root / "hospital-a" / "keys" / "signing.key")
    body = access_body("insurer-b", "hospital-a", "x" * 43, 123456)
    nonce = nonce_from_bytes(bytes(16))
    tx = make_tx(
        "access.record", OrgId("hospital-a"), kid_of(key.public_key()), now_ms(), nonce, body
    )
    return len(sign_entry(tx, key))


async def run_consortium(
    root: Path, urls: list[str], per_node: int, window: int, cut_after: float, rate: float
) -> tuple[list[float], float]:
    """Latencies (ms) per entry, and the seconds from the first submit to the last commit."""
    nodes = [NodeProcess(root, m.org, urls, cut_after=cut_after, track=True) for m in MEMBERS]
    ordering = await NatsOrdering.connect(
        urls, consortium_id((root / "consortium" / "genesis.json").read_bytes())
    )
    try:
        await asyncio.gather(*(node.start() for node in nodes))
        for node in nodes:
            acked = root / node.org / "acked.txt"
            await node.request(
                "load", 120.0, count=per_node, window=window, rate=rate, acked=str(acked)
            )
        for node in nodes:
            done = await node.request("load_wait", timeout=600.0)
            if done["errors"]:
                raise RuntimeError(f"{node.org}: {done['errors'][:3]}")
        await converge(nodes, ordering, timeout=600.0)
        commits: list[dict[str, int]] = []
        for node in nodes:
            path = root / node.org / "commits.txt"
            await node.request("commits", 60.0, path=str(path))
            commits.append(
                {tx: int(ns) for tx, ns in (ln.split() for ln in path.read_text().splitlines())}
            )
    finally:
        await asyncio.gather(*(node.stop() for node in nodes))
        await ordering.close()
    sent = {
        tx: times[0]
        for m in MEMBERS
        for tx, times in read_acked(root / m.org / "acked.txt").items()
    }
    if len(sent) != per_node * len(MEMBERS):
        raise RuntimeError(f"only {len(sent)} entries acknowledged")
    everywhere = {tx: max(c[tx] for c in commits) for tx in sent}
    latencies = [(everywhere[tx] - sent[tx]) / 1e6 for tx in sent]
    seconds = (max(everywhere.values()) - min(sent.values())) / 1e9
    return latencies, seconds


def quantiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return round(cuts[49], 1), round(cuts[98], 1)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--entries", type=int, default=12_000, help="in total, split over 3 gateways"
    )
    parser.add_argument("--window", type=int, default=256, help="in flight in total")
    parser.add_argument("--cut-after", type=float, default=0.05)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="entries/s in total, paced evenly over the gateways, one run only; 0 (default): "
        "as fast as the window allows, then at half that rate",
    )
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="latency run length")
    args = parser.parse_args()
    per_node = args.entries // len(MEMBERS)
    per_window = max(1, args.window // len(MEMBERS))
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp, NatsCluster(Path(tmp) / "nats") as cluster:
        root = Path(tmp) / "consortium"
        make_consortium(root)
        size = entry_size(root)
        raw = await measure_publish_rate(
            cluster.client_urls,
            per_node * len(MEMBERS),
            size=size,
            window=per_window * len(MEMBERS),
        )
        latencies, seconds = await run_consortium(
            root,
            cluster.client_urls,
            per_node,
            per_window,
            args.cut_after,
            args.rate / len(MEMBERS),
        )
        rate = len(latencies) / seconds
        p50, p99 = quantiles(latencies)
        if not args.rate:
            paced = rate / 2
            count = max(1, int(paced * args.paced_seconds) // len(MEMBERS))
            later = Path(tmp) / "paced"
            make_consortium(later)  # a stream of its own: the first run's backlog is not in it
            paced_latencies, _ = await run_consortium(
                later, cluster.client_urls, count, per_window, args.cut_after, paced / len(MEMBERS)
            )
            report = {"saturated_p50_ms": p50, "saturated_p99_ms": p99, "paced_rate": round(paced)}
            p50, p99 = quantiles(paced_latencies)
    print(
        json.dumps(
            {
                "entries": len(latencies),
                "gateways": len(MEMBERS),
                "replicas": 3,
                "window": per_window * len(MEMBERS),
                "offered_rate": args.rate or None,
                "entry_bytes": size,
                "cores": os.cpu_count(),
                "entries_per_s": round(rate),
                **report,
                "p50_ms": p50,
                "p99_ms": p99,
                "raw_publish_per_s": round(raw.per_second),
                "ratio": round(rate / raw.per_second, 3),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
