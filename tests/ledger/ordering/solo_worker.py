"""A separate gateway process for the multi-process solo test: submit keys, print acknowledgements.

Usage: python solo_worker.py LOG_PATH NAME COUNT SHARED_COUNT
Submits COUNT own keys (``NAME-i``) and SHARED_COUNT keys every worker also submits (``shared-i``),
interleaved, one at a time and in small batches, once "go" arrives on stdin; prints "ready" first,
then one JSON line per acknowledged submit.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from ledger.ordering.solo import SoloOrdering


async def main(path: Path, name: str, count: int, shared: int) -> None:
    keys = [f"{name}-{i}" for i in range(count)]
    for i in range(shared):
        keys.insert((i * 7) % (len(keys) + 1), f"shared-{i}")
    ordering = SoloOrdering(path)
    # Start together: report ready, then wait for the test's "go" so the processes really overlap.
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        for start in range(0, len(keys), 10):
            chunk = keys[start : start + 10]
            if start % 20 == 0:
                positions = [await ordering.submit(k.encode(), k) for k in chunk]
            else:
                positions = await ordering.submit_many([(k.encode(), k) for k in chunk])
            for key, position in zip(chunk, positions, strict=True):
                print(json.dumps({"key": key, "position": position}), flush=True)
    finally:
        await ordering.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
