"""Benchmark: a consented insurer query of a 50-claim bundle through two real gateways, against
the same bytes served by a bare FastAPI endpoint, same run.

Prints one JSON object:
  secure_rps, secure_p50_ms, secure_p99_ms   POST insurer /outbound/query -> hospital
      /exchange/query at concurrency 32: SMART token check, peer assertion, policy decision,
      access.record ordered before release, seal, open; each gateway its own `medgate serve`
      process on the embedded solo ordering
  plain_rps, plain_p50_ms, plain_p99_ms      GET of the released bundle's bytes, returned as
      stored by a bare FastAPI endpoint under uvicorn (one worker), same load generator
  overhead_ratio                              plain_rps / secure_rps   (bar: <= 5)
  secure_cpu_ms, plain_cpu_ms                 CPU time per request of each process in the
      measured phase (user + system, from /proc; {} where there is no /proc): far steadier than
      wall time on a shared machine, and it shows whether the load generator is the bottleneck
  cpu_ratio                                   all processes' CPU per secure request / per plain
      request: the overhead as work done, which drifts far less than rps between runs
  secure_cores_busy, plain_cores_busy         cores' worth of CPU all processes used in each phase
      (rps x CPU per request): when the two are close, both phases ran the machine equally hard
      and overhead_ratio ~ cpu_ratio, i.e. the secure path's overhead is work, not waiting
  bundle_bytes, requests, concurrency
Load comes from aiohttp in this process (httpx is ~10x slower under concurrency); both phases
run the same bounded number of requests after the same warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from gateway.identity.consortium import MemberSpec
from tests.e2e import records
from tests.e2e.flows import seed
from tests.e2e.gateways import Consortium, free_base_port, wait_for

CLAIMS = 50
CONCURRENCY = 32


def plain_server(port: int, body_path: Path) -> None:
    """The baseline: a bare FastAPI JSON endpoint returning the stored bytes as they are."""
    import uvicorn
    from fastapi import FastAPI
    from starlette.responses import Response

    stored = body_path.read_bytes()
    app = FastAPI()

    @app.get("/bundle")
    def bundle() -> Response:
        return Response(stored, media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def load(
    url: str, method: str, body: bytes | None, headers: dict[str, str], total: int
) -> tuple[float, list[float]]:
    """``total`` requests at CONCURRENCY in flight; (requests/s, latencies in ms). Every answer
    must be 200 with a body, or the run is void."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        queue = iter(range(total))

        async def worker() -> None:
            for _ in queue:
                start = time.perf_counter()
                async with session.request(method, url, data=body, headers=headers) as response:
                    data = await response.read()
                    if response.status != 200 or not data:
                        raise RuntimeError(f"{url} answered {response.status}: {data[:200]!r}")
                latencies.append((time.perf_counter() - start) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - began
    return total / elapsed, latencies


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far, or None without a Linux /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(
    pids: dict[str, int], run: Callable[[], tuple[float, list[float]]], requests: int
) -> tuple[float, list[float], dict[str, float]]:
    """``run()``'s result and the CPU milliseconds per request each of ``pids`` spent in it."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    rps, latencies = run()
    cpu = {}
    for name, pid in pids.items():
        start, end = before[name], cpu_seconds(pid)
        if start is not None and end is not None:
            cpu[name] = round((end - start) * 1000 / requests, 3)
    return rps, latencies, cpu


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(requests: int, warmup: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        members = [MemberSpec("hospital", "hospital"), MemberSpec("insurer", "insurer")]
        with Consortium(root, members) as consortium:
            hospital, insurer = consortium["hospital"], consortium["insurer"]
            patient = seed(hospital, claims=CLAIMS)
            consent = records.consent(patient.patient_id, "insurer", "HPAYMT", ["Claim"])
            hospital.create(consent, hospital.auth())
            query = {
                "custodian": "hospital",
                "patient": {"system": records.NATIONAL_ID, "value": patient.national_id},
                "purpose": "HPAYMT",
                "resource_types": ["Claim"],
            }
            body = json.dumps(query).encode()
            headers = {**insurer.auth("system/Claim.read"), "Content-Type": "application/json"}
            first = insurer.http.post("/outbound/query", content=body, headers=headers)
            if first.status_code != 200 or len(first.json()["entry"]) != CLAIMS:
                raise RuntimeError(f"the consented query failed: {first.status_code} {first.text}")
            url = f"{insurer.url}/outbound/query"
            asyncio.run(load(url, "POST", body, headers, warmup))
            pids = {"load": os.getpid()}
            pids |= {g.org: g.process.pid for g in (hospital, insurer) if g.process is not None}
            secure_rps, secure, secure_cpu = measured(
                pids, lambda: asyncio.run(load(url, "POST", body, headers, requests)), requests
            )
            plain_rps, plain, plain_cpu = _plain(root, first.content, requests, warmup)
    return {
        "secure_rps": round(secure_rps, 1),
        "secure_p50_ms": round(statistics.median(secure), 2),
        "secure_p99_ms": round(percentile(secure, 0.99), 2),
        "plain_rps": round(plain_rps, 1),
        "plain_p50_ms": round(statistics.median(plain), 2),
        "plain_p99_ms": round(percentile(plain, 0.99), 2),
        "overhead_ratio": round(plain_rps / secure_rps, 2),
        "secure_cpu_ms": secure_cpu,
        "plain_cpu_ms": plain_cpu,
        **_cpu_figures(secure_rps, secure_cpu, plain_rps, plain_cpu),
        "bundle_bytes": len(first.content),
        "requests": requests,
        "concurrency": CONCURRENCY,
    }


def _cpu_figures(
    secure_rps: float, secure_cpu: dict[str, float], plain_rps: float, plain_cpu: dict[str, float]
) -> dict[str, float]:
    """cpu_ratio and the cores each phase kept busy; nothing where /proc gave no CPU times."""
    if not secure_cpu or not plain_cpu:
        return {}
    secure_ms, plain_ms = sum(secure_cpu.values()), sum(plain_cpu.values())
    return {
        "cpu_ratio": round(secure_ms / plain_ms, 2),
        "secure_cores_busy": round(secure_rps * secure_ms / 1000, 2),
        "plain_cores_busy": round(plain_rps * plain_ms / 1000, 2),
    }


def _plain(
    root: Path, stored: bytes, requests: int, warmup: int
) -> tuple[float, list[float], dict[str, float]]:
    body_path = root / "bundle.json"
    body_path.write_bytes(stored)
    port = free_base_port(1)
    cmd = [sys.executable, __file__, "--plain-server", str(port), str(body_path)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/bundle"
        wait_for(lambda: _answers(url), "the plain endpoint", 30)
        asyncio.run(load(url, "GET", None, {}, warmup))
        pids = {"load": os.getpid(), "server": server.pid}
        return measured(pids, lambda: asyncio.run(load(url, "GET", None, {}, requests)), requests)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http
            return bool(response.status == 200)
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--plain-server", nargs=2, metavar=("PORT", "BODY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_server:
        plain_server(int(args.plain_server[0]), Path(args.plain_server[1]))
        return
    print(json.dumps(run(args.requests, args.warmup)))


if __name__ == "__main__":
    main()
