"""`medgate demo` end to end: create the consortium, start and supervise its gateways, walk the
flows, then keep serving (printing what a visitor needs) until a signal or a child's death."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from gateway.demo import synthetic
from gateway.demo.governance_walk import run_governance
from gateway.demo.ledger_walk import run_ledger_walk
from gateway.demo.processes import (
    GatewayDiedError,
    GatewayProcess,
    check_ports_free,
    start_gateway,
    stop_all,
    wait_ready,
    watch,
)
from gateway.demo.walkthrough import MEMBERS, run_flows, say
from gateway.identity.consortium import Created, create_consortium

T = TypeVar("T")


async def run_demo(root: Path, *, serve: bool, base_port: int = 8401) -> bool:
    """The whole demo; True when every step behaved. Raises PortInUseError before creating
    anything when a member's port is taken, GatewayDiedError when a gateway exits."""
    ports = [(m.org, f"http://127.0.0.1:{base_port + i}") for i, m in enumerate(MEMBERS)]
    check_ports_free(ports)
    say(f"1. the key ceremony (what `medgate init` runs): {len(MEMBERS)} founders in {root}")
    created = create_consortium(
        root,
        "medgate demo consortium",
        MEMBERS,
        base_port=base_port,
        narrate=lambda step: say(f"   {step}"),
    )
    say(f"   consortium {created.consortium_id[:16]}...: no private key left its member's folder")
    say("2. governance and consent on the ledger, every member validating every entry")
    ledger_ok = await run_ledger_walk(root, MEMBERS)
    say("3. every member's gateway starts in its own process (SQLite + embedded solo ordering)")
    gateways = [start_gateway(m.org, m.public_url, m.config) for m in created.members]
    try:
        await _watched(gateways, wait_ready(gateways))
        for gw in gateways:
            say(f"   {gw.org:<11} {gw.url}  (pid {gw.process.pid}, log {gw.log_path})")
        governance_ok = await _watched(gateways, run_governance(created))
        ok, _ = await _watched(gateways, run_flows(root, created))
        ok = ok and ledger_ok and governance_ok
        say("7. " + ("every step behaved as expected" if ok else "some steps FAILED (see above)"))
        if serve:
            _visitor_notes(root, created, gateways)
            raise await watch(gateways)
        return ok
    finally:
        stop_all(gateways)


async def _watched(gateways: list[GatewayProcess], work: Coroutine[Any, Any, T]) -> T:
    """``work``'s result, unless a gateway dies first: then GatewayDiedError, work cancelled.
    Cancelled itself (a signal), it cancels both before the caller stops the gateways."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(watch(gateways))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, watcher):
            if not pending.done():
                pending.cancel()
    if task in done:
        return task.result()
    died: GatewayDiedError = watcher.result()
    raise died


def _visitor_notes(root: Path, created: Created, gateways: list[GatewayProcess]) -> None:
    hospital = gateways[0]
    config = created.members[0].config
    say(f"\nThe consortium keeps running. The patient portal: {hospital.url}/portal")
    say(f"Synthetic patients at {hospital.org} (identifier system {synthetic.MRN_SYSTEM}):")
    for p in synthetic.PATIENTS:
        say(f"   {p.mrn}  {p.given} {p.family}  (FHIR Patient/{p.pid})")
    say("A patient's invitation code to sign in at the portal (single use; run again for another):")
    say(f"   medgate patient invite --config {config} {synthetic.PATIENTS[0].mrn}")
    say("An operator-minted patient token (15 minutes), for tools and tests:")
    say(f"   medgate patient-token --config {config} {synthetic.PATIENTS[0].mrn}")
    say(f"Re-decide a recorded access: medgate audit replay TX_ID_OR_PREFIX --config {config}")
    say(f"Logs: {root}/<member>/gateway.log (JSON lines). Stop with Ctrl-C or SIGTERM.")
