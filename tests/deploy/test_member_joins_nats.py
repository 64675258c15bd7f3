"""A member admitted by a committed ``member.add`` joins the NATS cluster over TLS: the three
founders' servers run from kits rendered at genesis and hold the ledger stream; after the
member.add each founder re-renders from its own ledger store, installs the member-derived files
and reloads its server (`nats-server --signal reload`); the newcomer renders its kit after
`medgate member join` and starts its server, which routes to the three over mutual TLS and
serves the stream to the newcomer's gateway certificate."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from gateway.settings import Settings
from gateway.tls import nats_client_context
from ledger.ordering.nats import NatsOrdering
from tests.deploy.ledgers import (
    FOUNDERS,
    NEWCOMER,
    World,
    admit_newcomer,
    check,
    make_world,
    render,
)
from tests.deploy.running import unit_process, wait_nats_ready
from tests.support.nats_cluster import _get_json, nats_server_binary

pytestmark = [pytest.mark.e2e, pytest.mark.nats]
FOUNDER_ORGS = tuple(m.org for m in FOUNDERS)
ENTRIES = 5
JOIN_TIMEOUT_S = 90.0
POLL_S = 0.2
MEMBER_FILES = (
    "nats/nats-server.conf",
    "nats/tls/member-cas.pem",
    "gateway/keys/member-cas.pem",
    "kit.json",
)
"""What a re-render changes when the member set does (docs/deployment.md): installed, then reload."""


async def _connect(kit: Path, servers: list[str]) -> NatsOrdering:
    """The ledger stream through ``servers`` as the kit's gateway (its NATS client certificate)."""
    settings = Settings.load(kit / "gateway" / "medgate.toml")
    tls = nats_client_context(settings)
    assert tls is not None
    return await asyncio.wait_for(
        NatsOrdering.connect(servers, settings.consortium, replicas=3, tls=tls), 30
    )


async def _publish(kit: Path, servers: list[str]) -> int:
    ordering = await _connect(kit, servers)
    try:
        positions = [
            await ordering.submit(f"entry-{n}".encode(), f"tx-{n}") for n in range(ENTRIES)
        ]
        return positions[-1]
    finally:
        await ordering.close()


async def _read_all(kit: Path, servers: list[str]) -> list[bytes]:
    """The stream's whole content through ``servers`` as the kit's gateway (its NATS client
    certificate); raises when it cannot (yet)."""
    ordering = await _connect(kit, servers)
    try:
        last = await asyncio.wait_for(ordering.last_position(), 10)
        seen: list[bytes] = []
        if last == 0:
            return seen
        reader = ordering.read(0)
        try:
            while len(seen) < last:
                seen.append((await asyncio.wait_for(anext(reader), 10)).data)
        finally:
            await reader.aclose()
        return seen
    finally:
        await ordering.close()


def _routes_of(monitor_port: int) -> int:
    """How many distinct servers ``monitor_port``'s server has a route to."""
    routes = (_get_json(monitor_port, "/routez") or {}).get("routes")
    if not isinstance(routes, list):
        return 0
    return len({r.get("remote_name") for r in routes if isinstance(r, dict)} - {None})


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


def test_a_member_added_on_the_ledger_joins_the_nats_cluster_over_tls(
    world: World, tmp_path: Path
) -> None:
    kits = tmp_path / "kits"
    with ExitStack() as stack:
        procs = {}
        logs = {org: tmp_path / f"nats-{org}.log" for org in world.ports}
        for org in FOUNDER_ORGS:
            render(world, org, kits / org, peers=FOUNDER_ORGS)
            unit = kits / org / "systemd/medgate-nats.service"
            procs[org] = stack.enter_context(unit_process(unit, logs[org]))
        monitors = [world.ports[o].monitor for o in FOUNDER_ORGS]
        wait_nats_ready(monitors, list(procs.values()), [logs[o] for o in FOUNDER_ORGS])
        founders = [f"tls://127.0.0.1:{world.ports[o].client}" for o in FOUNDER_ORGS]
        last = asyncio.run(_publish(kits / "hospital-a", founders))
        assert last == ENTRIES

        admit_newcomer(world)
        for org in FOUNDER_ORGS:
            stale = check(world, org, kits / org)
            assert stale.returncode == 1, stale.stdout + stale.stderr
            # Re-render from the member's own ledger store, for the installed kit (--root), and
            # install only what the member set changes; then reload the running server.
            fresh = kits.parent / "rerendered" / org
            out = render(world, org, fresh, "--root", str(kits / org))
            assert "members from the ledger" in out
            for rel in MEMBER_FILES:
                shutil.copyfile(fresh / rel, kits / org / rel)
            conf = kits / org / "nats/nats-server.conf"
            valid = subprocess.run(
                [nats_server_binary(), "-t", "-c", str(conf)],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert valid.returncode == 0, valid.stdout + valid.stderr
            reload = subprocess.run(
                [nats_server_binary(), "--signal", f"reload={procs[org].pid}"],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert reload.returncode == 0, reload.stdout + reload.stderr
            assert check(world, org, kits / org).returncode == 0

        newcomer = NEWCOMER.org
        out = render(world, newcomer, kits / newcomer, peers=FOUNDER_ORGS)
        assert "members from the genesis" in out
        unit = kits / newcomer / "systemd/medgate-nats.service"
        procs[newcomer] = stack.enter_context(unit_process(unit, logs[newcomer]))
        own = [f"tls://127.0.0.1:{world.ports[newcomer].client}"]
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        seen: list[bytes] | None = None
        problem: BaseException | None = None
        while seen is None and time.monotonic() < deadline:
            assert procs[newcomer].poll() is None, logs[newcomer].read_text()[-3000:]
            if _routes_of(world.ports[newcomer].monitor) == len(FOUNDER_ORGS):
                try:
                    seen = asyncio.run(_read_all(kits / newcomer, own))
                except Exception as exc:  # not joined yet: retried until the deadline
                    problem = exc
            time.sleep(POLL_S)
        assert seen is not None, f"{problem!r}\n{logs[newcomer].read_text()[-3000:]}"
        assert seen == [f"entry-{n}".encode() for n in range(ENTRIES)]
        # Every founder routes to the newcomer too: the route is TLS-verified both ways.
        for org in FOUNDER_ORGS:
            assert _routes_of(world.ports[org].monitor) == len(FOUNDER_ORGS), org
