"""A consortium whose members' real SQLite ledger stores commit governance entries, for the deploy
tests: three founders (``medgate init``, endpoints https://127.0.0.1:<port>), every founder's
ledger node on the shared solo log, and a newcomer made with `medgate member keygen`, admitted by a
committed ``member.add`` and joined with `medgate member join` (share-key from a founder)."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.demo.consortium import open_member, wait_until_height
from gateway.identity.card import read_card
from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.identity.files import load_private_key
from ledger.ids import OrgId
from tests.deploy.kits import run_medgate
from tests.e2e.newcomer import hand_over, keygen
from tests.support.nats_cluster import free_port

FOUNDERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-b", "hospital"),
    MemberSpec("insurer", "insurer"),
]
NEWCOMER = MemberSpec("agency-d", "agency")
COMMIT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Ports:
    https: int
    client: int
    cluster: int
    monitor: int


@dataclass(frozen=True)
class World:
    root: Path
    """``root/init``: the founders' folders and the shared consortium folder; ``root/agency-d``:
    the newcomer's own folder."""
    ports: dict[str, Ports]

    @property
    def init(self) -> Path:
        return self.root / "init"

    def config(self, org: str) -> Path:
        base = self.root if org == NEWCOMER.org else self.init
        return base / org / "medgate.toml"

    def url(self, org: str) -> str:
        return f"https://127.0.0.1:{self.ports[org].https}"


def make_world(root: Path) -> World:
    """The founders' consortium and the newcomer's keys and card (not admitted yet)."""
    orgs = [m.org for m in FOUNDERS] + [NEWCOMER.org]
    ports = {org: Ports(*(free_port() for _ in range(4))) for org in orgs}
    world = World(root, ports)
    create_consortium(
        world.init, "deploy ledger", FOUNDERS, urls={m.org: world.url(m.org) for m in FOUNDERS}
    )
    keygen(root, NEWCOMER.org, NEWCOMER.role, world.url(NEWCOMER.org))
    return world


def govern(world: World, type_: str, body: dict[str, Any], endorser: str) -> int:
    """Order a governance entry proposed by hospital-a and endorsed by ``endorser``; wait until
    every founder's store committed it (valid). Returns the committed ledger height."""
    return asyncio.run(_govern(world, type_, body, endorser))


async def _govern(world: World, type_: str, body: dict[str, Any], endorser: str) -> int:
    nodes = [open_member(world.init, m.org, m.role, cut_after=0.01) for m in FOUNDERS]
    for node in nodes:
        await node.ledger.start()
    try:
        key = load_private_key(world.init / endorser / "keys" / "signing.key")
        entry = await nodes[0].ledger.record_committed(
            type_, body, timeout=COMMIT_TIMEOUT_S, endorsers={OrgId(endorser): key}
        )
        assert entry.code == 0, f"{type_} committed with code {entry.code}"
        await wait_until_height(nodes, entry.index + 1, timeout=COMMIT_TIMEOUT_S)
        return entry.height
    finally:
        for node in nodes:
            await node.ledger.stop()


def admit_newcomer(world: World) -> int:
    """``member.add`` of the newcomer's card, committed; then its `member join`. The height."""
    card = read_card(world.root / NEWCOMER.org / "card.json")
    height = govern(world, "member.add", {"member": card.member_record()}, "hospital-b")
    hand_over(world.init / "hospital-a", world.root / NEWCOMER.org)
    return height


def remove_newcomer(world: World) -> int:
    return govern(world, "member.remove", {"org": NEWCOMER.org}, "hospital-b")


def render(
    world: World, org: str, out: Path, *extra: str, peers: tuple[str, ...] | None = None
) -> str:
    """`medgate deploy render` of ``org``'s kit into ``out`` on 127.0.0.1 with its own ports;
    ``peers`` (default: every other org of the world) get ``ORG=127.0.0.1:<cluster port>``
    routes. Returns its stdout and stderr (the test fails when it exits non-zero)."""
    own = world.ports[org]
    named = [o for o in (peers if peers is not None else world.ports) if o != org]
    argv = [
        "deploy", "render", "--config", str(world.config(org)), "--out", str(out),
        "--host", "127.0.0.1", "--bind", "127.0.0.1",
        "--nats-listen", f"127.0.0.1:{own.client}",
        "--nats-cluster-listen", f"127.0.0.1:{own.cluster}",
        "--nats-monitor-listen", f"127.0.0.1:{own.monitor}",
        "--nats-peers", ",".join(f"{o}=127.0.0.1:{world.ports[o].cluster}" for o in named),
        *extra,
    ]  # fmt: skip
    done = run_medgate(*argv)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def check(world: World, org: str, kit: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`medgate deploy check` of the kit in ``kit`` against ``org``'s config (its ledger store)."""
    return run_medgate(
        "deploy", "check", "--config", str(world.config(org)), "--kit", str(kit), *extra
    )
