"""Benchmark: a three-member consortium committing on a real R3 NATS cluster, against the raw
ordering ceiling of the same cluster, same run.

Starts a 3-server JetStream cluster (``sync_interval: always``) on loopback and three member nodes,
each in its own OS process with its own SQLite store (tests/support/ledger_node.py: LedgerService +
Checkpointer). Every node signs its share of access records first, then submits them with a window
of acknowledgements in flight; the window is split evenly between the three gateways, so the cluster
sees the same number in flight as the raw measurement. Prints one JSON object:
  entries_per_s      entries submitted from all three gateways and committed on all three, per
                     second from the first submit to the last commit on the slowest node
  p50_ms, p99_ms     per entry: submit -> committed on every node (CLOCK_MONOTONIC, shared by the
                     processes of one machine)
  raw_publish_per_s  acknowledged publishes per second of same-sized messages to the same cluster with
                     the same window (ledger.ordering.nats_bench.measure_publish_rate)
  ratio              entries_per_s / raw_publish_per_s   (bar: ratio >= 0.5, p99_ms <= 250)
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
        help="entries/s in total, paced evenly over the gateways; 0 (default): as fast as the window allows",
    )
    args = parser.parse_args()
    per_node = args.entries // len(MEMBERS)
    per_window = max(1, args.window // len(MEMBERS))
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
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
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
                "p50_ms": round(cuts[49], 1),
                "p99_ms": round(cuts[98], 1),
                "raw_publish_per_s": round(raw.per_second),
                "ratio": round(rate / raw.per_second, 3),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
