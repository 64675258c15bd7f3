"""`medgate deploy render` and `deploy check` read the members from the member's real SQLite
ledger store: the genesis' founders before the first block, then the active members of the
committed state after a ``member.add`` and a ``member.remove``; the newcomer's own kit (after
`medgate member join`) routes to and trusts the founders."""

from __future__ import annotations

import json
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from tests.deploy.kits import run_medgate
from tests.deploy.ledgers import (
    FOUNDERS,
    NEWCOMER,
    World,
    admit_newcomer,
    check,
    make_world,
    remove_newcomer,
    render,
)
from tests.support.nats_cluster import nats_server_binary

FOUNDER_ORGS = sorted(m.org for m in FOUNDERS)
ALL_ORGS = sorted([*FOUNDER_ORGS, NEWCOMER.org])


@dataclass(frozen=True)
class Stages:
    world: World
    outputs: dict[str, str]
    """render's stdout of each kit below (by its folder name)."""
    kits: Path
    """``kits/<name>``: ``genesis`` (hospital-a before the first block), ``added`` (hospital-a
    after the member.add), ``newcomer`` (agency-d after member join), ``removed`` (hospital-a
    after the member.remove)."""
    added_height: int
    removed_height: int
    checks: dict[str, subprocess.CompletedProcess[str]]
    """`deploy check` answers, taken at the stage they describe."""


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> Stages:
    root = tmp_path_factory.mktemp("members")
    world = make_world(root)
    kits = root / "kits"
    store = world.init / "hospital-a" / "data" / "ledger.db"
    assert not store.exists()
    outputs = {"genesis": render(world, "hospital-a", kits / "genesis", peers=tuple(FOUNDER_ORGS))}
    checks = {"genesis-before": check(world, "hospital-a", kits / "genesis")}
    assert not store.exists()  # neither render nor check creates the store
    added = admit_newcomer(world)
    checks["genesis-after-add"] = check(world, "hospital-a", kits / "genesis")
    outputs["added"] = render(world, "hospital-a", kits / "added")
    outputs["newcomer"] = render(world, NEWCOMER.org, kits / "newcomer")
    checks["added-after-add"] = check(world, "hospital-a", kits / "added")
    removed = remove_newcomer(world)
    checks["added-after-remove"] = check(world, "hospital-a", kits / "added")
    # The removed member's route is still given (an operator's old command line): left out.
    outputs["removed"] = render(world, "hospital-a", kits / "removed")
    checks["removed-after-remove"] = check(world, "hospital-a", kits / "removed")
    return Stages(world, outputs, kits, added, removed, checks)


def _orgs_trusted(kit: Path) -> list[str]:
    bundle = x509.load_pem_x509_certificates((kit / "nats/tls/member-cas.pem").read_bytes())
    gateway_bundle = (kit / "gateway/keys/member-cas.pem").read_bytes()
    assert gateway_bundle == (kit / "nats/tls/member-cas.pem").read_bytes()
    return sorted(
        str(cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value)
        for cert in bundle
    )


def _nats(kit: Path) -> str:
    return (kit / "nats/nats-server.conf").read_text()


def _users(conf: str) -> list[str]:
    return sorted(
        line.split("O=")[1].split('"')[0] for line in conf.splitlines() if "nats-client,O=" in line
    )


def _valid(kit: Path) -> None:
    done = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(kit / "nats/nats-server.conf")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _stamp(kit: Path) -> dict[str, object]:
    value: dict[str, object] = json.loads((kit / "kit.json").read_bytes())
    return value


def test_before_the_first_block_the_kit_is_the_genesis_founders(stages: Stages) -> None:
    kit = stages.kits / "genesis"
    assert "members from the genesis" in stages.outputs["genesis"]
    assert "no committed block in the ledger store read" in stages.outputs["genesis"]
    assert "no committed block" not in stages.outputs["added"]
    assert _orgs_trusted(kit) == FOUNDER_ORGS
    assert _users(_nats(kit)) == FOUNDER_ORGS
    assert _stamp(kit)["members_source"] == "genesis"
    assert _stamp(kit)["ledger_height"] is None
    _valid(kit)


def test_after_member_add_the_kit_routes_to_and_trusts_the_newcomer(stages: Stages) -> None:
    kit = stages.kits / "added"
    world = stages.world
    assert f"members from the ledger at height {stages.added_height}" in stages.outputs["added"]
    assert _orgs_trusted(kit) == ALL_ORGS
    conf = _nats(kit)
    assert _users(conf) == ALL_ORGS
    for org in ALL_ORGS:
        if org != "hospital-a":
            assert f"nats-route://127.0.0.1:{world.ports[org].cluster}" in conf, org
    assert _stamp(kit)["members_source"] == "ledger"
    assert _stamp(kit)["ledger_height"] == stages.added_height
    _valid(kit)


def test_the_newcomers_own_kit_after_join_includes_the_founders(stages: Stages) -> None:
    kit = stages.kits / "newcomer"
    world = stages.world
    # Its store is empty until its gateway syncs: the genesis' founders plus itself.
    assert "members from the genesis" in stages.outputs["newcomer"]
    assert _orgs_trusted(kit) == ALL_ORGS
    conf = _nats(kit)
    assert _users(conf) == ALL_ORGS
    for org in FOUNDER_ORGS:
        assert f"nats-route://127.0.0.1:{world.ports[org].cluster}" in conf, org
    # The same member set as the founders' re-rendered kits: their checks agree.
    assert _stamp(kit)["members_digest"] == _stamp(stages.kits / "added")["members_digest"]
    _valid(kit)


def test_after_member_remove_the_removed_member_is_neither_routed_nor_trusted(
    stages: Stages,
) -> None:
    kit = stages.kits / "removed"
    world = stages.world
    assert f"ledger at height {stages.removed_height}" in stages.outputs["removed"]
    assert stages.removed_height > stages.added_height
    assert _orgs_trusted(kit) == FOUNDER_ORGS
    conf = _nats(kit)
    assert _users(conf) == FOUNDER_ORGS
    assert f"127.0.0.1:{world.ports[NEWCOMER.org].cluster}" not in conf
    assert NEWCOMER.org not in conf
    assert f"--nats-peers {NEWCOMER.org}=" in stages.outputs["removed"]
    assert "no other active member has it; left out" in stages.outputs["removed"]
    _valid(kit)


def test_check_says_when_the_kit_is_older_than_the_ledgers_members(stages: Stages) -> None:
    c = stages.checks
    assert c["genesis-before"].returncode == 0, c["genesis-before"].stderr
    assert "is current" in c["genesis-before"].stdout
    stale = c["genesis-after-add"]
    assert stale.returncode == 1
    assert stale.stderr.count("\n") == 1  # one line
    assert f"+{NEWCOMER.org}" in stale.stderr
    assert "re-render and reload NATS" in stale.stderr
    assert f"height {stages.added_height}" in stale.stderr
    assert c["added-after-add"].returncode == 0, c["added-after-add"].stderr
    gone = c["added-after-remove"]
    assert gone.returncode == 1
    assert f"-{NEWCOMER.org}" in gone.stderr
    assert c["removed-after-remove"].returncode == 0, c["removed-after-remove"].stderr


def test_check_of_a_folder_without_a_stamp_cannot_tell(stages: Stages, tmp_path: Path) -> None:
    done = check(stages.world, "hospital-a", tmp_path)
    assert done.returncode == 2
    assert "kit.json is missing" in done.stderr


def test_a_store_of_another_consortium_is_refused(stages: Stages, tmp_path: Path) -> None:
    other = make_world(tmp_path / "other")
    store = stages.world.init / "hospital-a" / "data" / "ledger.db"
    done = check(
        other, "hospital-a", stages.kits / "genesis", "--ledger-store", f"sqlite:///{store}"
    )
    assert done.returncode == 2
    assert "does not start with this config's genesis" in done.stderr


def test_a_ledger_store_that_cannot_be_opened_is_an_error_not_a_genesis_kit(
    stages: Stages, tmp_path: Path
) -> None:
    """A founder whose database is down must not get a kit that silently drops members."""
    with socket.socket() as sock:  # bound, never listening: the connection is refused
        sock.bind(("127.0.0.1", 0))
        url = f"postgresql+psycopg://medgate@127.0.0.1:{sock.getsockname()[1]}/ledger"
        done = run_medgate(
            "deploy", "render", "--config", str(stages.world.config("hospital-a")),
            "--out", str(tmp_path / "kit"), "--ledger-store", url,
        )  # fmt: skip
        checked = check(stages.world, "hospital-a", stages.kits / "removed", "--ledger-store", url)
    assert done.returncode == 2
    assert "the members are read from the ledger store" in done.stderr
    assert not (tmp_path / "kit").exists()
    assert checked.returncode == 2
    assert "cannot be opened" in checked.stderr
