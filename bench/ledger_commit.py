"""Benchmark: ledger commit throughput against the raw signature-verification limit, same run.

Prints one JSON object:
  entries_per_s       entries committed per second by a member's node: read from the embedded `solo`
                      ordering, full validation with signature checks on every core, blocks built and
                      committed to SQLite (WAL)
  verify_limit_per_s  raw P-256 verifications per second of the same entries' signatures, on every core
                      (``ledger.signing.verify``, base64url and DER decoding included, a chunk of 256
                      calls per task of a pool with a thread per core)
  ratio               entries_per_s / verify_limit_per_s   (bar: entries_per_s >= 5000, ratio >= 0.5)
  arithmetic_per_s    the same checks with every signature decoded beforehand: only the curve arithmetic
  arithmetic_ratio    entries_per_s / arithmetic_per_s
  phase1_us           microseconds per entry of phase 1 but the curve arithmetic (strict parse, shape,
                      body schema, signature decoding: ``ledger.validation.decode``), on one thread
  cores_busy          CPU seconds the process spent per wall-clock second while the node committed
                      (user + system, every thread): how much of the machine's ``cores`` it used

Chunks, not a future per call: ``ThreadPoolExecutor.map`` ignores ``chunksize``, and a future per
verification made the pool slower than one thread (measured: ~21,000/s on two threads against
~23,000/s on one; ~44,000/s chunked), which halved the limit this benchmark compares against.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.cli.serve_cmd import tune_gc
from gateway.demo.consortium import MemberNode, open_member, patient_key
from gateway.demo.samples import access_body
from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.identity.files import load_private_key
from gateway.identity.pseudonym import patient_ref
from gateway.services.ledger import LedgerService
from ledger.canonical import canonical, parse
from ledger.entries import encode_cut
from ledger.ids import OrgId
from ledger.ordering.solo import SoloOrdering
from ledger.signing import es256_check, load_public_key_b64, verify
from ledger.storage.sql import SqlStore
from ledger.validation import ValidationCode, decode

MEMBERS = [("hospital-a", "hospital"), ("insurer-b", "insurer"), ("agency-c", "agency")]


def make_entries(nodes: list[MemberNode], root: Path, count: int) -> list[tuple[bytes, str]]:
    key = patient_key(root, "hospital-a")
    refs = [patient_ref(key, "urn:mrn", str(n)) for n in range(100)]
    out = []
    for i in range(count):
        node = nodes[i % len(nodes)]
        body = access_body("insurer-b", node.org, refs[i % 100], i)
        tx_id, leaf = node.ledger.sign("access.record", body)
        out.append((leaf, tx_id))
    return out


def signer_keys(nodes: list[MemberNode]) -> dict[str, ec.EllipticCurvePublicKey]:
    keys = {}
    for node in nodes:
        raw = node.ledger.store.get("keys", node.ledger.kid)
        assert raw is not None
        keys[node.ledger.kid] = load_public_key_b64(parse(raw)["pub"])
    return keys


def verify_limit(entries: list[tuple[bytes, str]], nodes: list[MemberNode], workers: int) -> float:
    """Raw verifications per second of exactly these signatures, on ``workers`` threads."""
    keys = signer_keys(nodes)
    jobs = []
    for leaf, _ in entries:
        doc = parse(leaf)
        jobs.append((keys[doc["tx"]["kid"]], canonical(doc["tx"]), doc["sig"]))
    chunks = [jobs[i : i + 256] for i in range(0, len(jobs), 256)]
    with ThreadPoolExecutor(workers) as pool:
        start = time.perf_counter()
        ok = sum(pool.map(lambda chunk: sum(verify(*job) for job in chunk), chunks))
        elapsed = time.perf_counter() - start
    assert ok == len(jobs)
    return len(jobs) / elapsed


def arithmetic_limit(
    entries: list[tuple[bytes, str]], nodes: list[MemberNode], workers: int
) -> float:
    """Verifications per second when only the curve arithmetic is left to do, on ``workers`` threads."""
    keys = signer_keys(nodes)
    checks = []
    for leaf, _ in entries:
        doc = parse(leaf)
        checks.append(es256_check(keys[doc["tx"]["kid"]], canonical(doc["tx"]), doc["sig"]))
    chunks = [checks[i : i + 256] for i in range(0, len(checks), 256)]
    with ThreadPoolExecutor(workers) as pool:
        start = time.perf_counter()
        ok = sum(pool.map(lambda chunk: sum(check() for check in chunk), chunks))
        elapsed = time.perf_counter() - start
    assert ok == len(checks)
    return len(checks) / elapsed


def phase1_us(entries: list[tuple[bytes, str]], nodes: list[MemberNode]) -> float:
    """Microseconds per entry of ``decode`` (phase 1 but the curve arithmetic), on one thread."""
    keys = signer_keys(nodes)

    def resolve(kid: str) -> ec.EllipticCurvePublicKey | None:
        return keys.get(kid)

    start = time.perf_counter()
    decoded = [decode(leaf, resolve) for leaf, _ in entries]
    elapsed = time.perf_counter() - start
    assert all(d.code is ValidationCode.VALID for d in decoded)
    return elapsed / len(entries) * 1e6


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def commit_rate(
    root: Path, entries: list[tuple[bytes, str]], workers: int
) -> tuple[float, float]:
    """Entries per second for a fresh node to commit the whole pre-ordered stream, and the cores
    the process kept busy meanwhile."""
    ordering = SoloOrdering(root / "consortium" / "ordering.db")
    await ordering.submit_many(entries)
    await ordering.submit(encode_cut(OrgId("agency-c"), 0), "bench-final-cut")
    await ordering.close()
    folder = root / "agency-c"
    node = LedgerService(
        OrgId("agency-c"),
        load_private_key(folder / "keys" / "signing.key"),
        SqlStore(f"sqlite:///{folder / 'data' / 'ledger.db'}"),
        SoloOrdering(root / "consortium" / "ordering.db"),
        (root / "consortium" / "genesis.json").read_bytes(),
        clock_ms=lambda: 0,
        cut_after=3600,  # blocks close by size and by the final marker only
        workers=workers,
    )
    target = len(entries) + 1
    start, cpu = time.perf_counter(), cpu_seconds()
    await node.start()
    while node.committer.head.tree_size < target:
        if node.failure is not None:
            raise node.failure
        await asyncio.sleep(0.002)
    elapsed, busy = time.perf_counter() - start, cpu_seconds() - cpu
    await node.stop()
    return len(entries) / elapsed, busy / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=20_000)
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        create_consortium(root, "bench", [MemberSpec(o, r) for o, r in MEMBERS])
        signers = [open_member(root, org, role) for org, role in MEMBERS[:2]]
        for node in signers:
            await node.ledger.start()
        entries = make_entries(signers, root, args.entries)
        limit = verify_limit(entries, signers, workers)
        arithmetic = arithmetic_limit(entries, signers, workers)
        phase1 = phase1_us(entries, signers)
        for node in signers:
            await node.ledger.stop()
        tune_gc()  # the collector settings `medgate serve` runs the node with, once started
        rate, busy = await commit_rate(root, entries, workers)
    result = {
        "entries": args.entries,
        "cores": workers,
        "entries_per_s": round(rate),
        "verify_limit_per_s": round(limit),
        "ratio": round(rate / limit, 3),
        "arithmetic_per_s": round(arithmetic),
        "arithmetic_ratio": round(rate / arithmetic, 3),
        "phase1_us": round(phase1, 1),
        "cores_busy": round(busy, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
