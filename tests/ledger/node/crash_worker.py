"""A member node that submits entries and commits blocks until it is killed (crash-safety tests).

Usage: python -m tests.ledger.node.crash_worker ROOT ORG ACKFILE COUNT
Each entry is appended to ACKFILE (flushed and fsynced) only after the ordering service acknowledged
it, so ACKFILE lists exactly the acknowledged submissions. With COUNT 0 it drains: it publishes a cut
marker, commits everything ordered so far, and exits 0.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from gateway.demo.consortium import open_member, patient_key
from gateway.demo.samples import access_body
from gateway.identity.pseudonym import patient_ref
from ledger.entries import encode_cut


async def main(root: Path, org: str, ackfile: Path, count: int) -> None:
    node = open_member(root, org, "hospital", cut_after=0.01)
    await node.ledger.start()
    ref = patient_ref(patient_key(root, org), "urn:mrn", "crash-1")
    with ackfile.open("a") as acks:
        for n in range(count):
            body = access_body("insurer-b", org, ref, n)
            recorded = await node.ledger.record("access.record", body)
            acks.write(recorded.tx_id + "\n")
            acks.flush()
            os.fsync(acks.fileno())
    last = await node.ledger.ordering.last_position()
    marker = await node.ledger.ordering.submit(encode_cut(node.org, last), f"drain:{last}")
    committer = node.ledger.committer
    for _ in range(3000):  # bounded: at most ~60 s
        if node.ledger.failure is not None:
            raise node.ledger.failure
        if committer.read_position >= marker and committer.pending == 0:
            break
        await asyncio.sleep(0.02)
    else:
        raise SystemExit("drain did not finish")
    await node.ledger.stop()


if __name__ == "__main__":
    root, org, ackfile, count = sys.argv[1:5]
    asyncio.run(main(Path(root), org, Path(ackfile), int(count)))
