"""The rendered kits run: three members' NATS servers (TLS routes and clients) started with their
units' ExecStart, two gateways on PostgreSQL and `nats` ordering over mutual TLS, serving HTTPS with
certificates from their own member CAs, and a treatment exchange between them over HTTPS."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.deploy.kits import MemberKit, render_kits, run_medgate
from tests.deploy.running import ca_context, unit_process, wait_gateway_ready, wait_nats_ready
from tests.e2e.flows import ask, seed, types_of
from tests.e2e.gateways import Gateway
from tests.support.postgres import fresh_database, server_dsn

pytestmark = pytest.mark.e2e
SERVING = ("hospital-a", "hospital-b")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Gateway]]:
    root = tmp_path_factory.mktemp("kits")
    with ExitStack() as stack:
        server = stack.enter_context(server_dsn())
        urls = {
            org: (
                stack.enter_context(fresh_database(server)),
                stack.enter_context(fresh_database(server)),
            )
            for org in ("hospital-a", "hospital-b", "insurer")
        }
        kits = render_kits(root, urls)
        logs = [root / f"nats-{org}.log" for org in kits]
        procs = [
            stack.enter_context(unit_process(kit.dir / "systemd/medgate-nats.service", log))
            for kit, log in zip(kits.values(), logs, strict=True)
        ]
        wait_nats_ready([k.monitor_port for k in kits.values()], procs, logs)
        gateways = {}
        for org in SERVING:
            gateways[org] = _start_gateway(stack, kits[org], root / f"gateway-{org}.log")
        yield gateways


def _start_gateway(stack: ExitStack, kit: MemberKit, log: Path) -> Gateway:
    proc = stack.enter_context(unit_process(kit.dir / "systemd/medgate-gateway.service", log))
    # The test plays the member's EHR: its client key (never in the kit) from the init folder.
    ehr_key = kit.dir.parents[1] / "init" / kit.org / "clients" / "ehr.key"
    shutil.copy(ehr_key, kit.dir / "gateway" / "clients" / "ehr.key")
    gateway = Gateway(
        kit.org, "hospital", f"https://127.0.0.1:{kit.https_port}", kit.dir / "gateway"
    )
    gateway.http.close()
    # The test client trusts this member's CA only, as its peers do.
    gateway.http = httpx.Client(
        base_url=gateway.url, verify=ca_context(kit.dir / "gateway/keys/ca.pem"), timeout=60
    )
    stack.callback(gateway.http.close)
    wait_gateway_ready(gateway.http, proc, log)
    return gateway


def test_gateways_serve_https_with_their_member_certificate(running: dict[str, Gateway]) -> None:
    gateway = running["hospital-a"]
    ready = gateway.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["view_age_ms"] >= 0
    # Another member's CA does not vouch for hospital-a's server: the handshake fails.
    other_ca = running["hospital-b"].folder / "keys/ca.pem"
    with (
        httpx.Client(verify=ca_context(other_ca)) as stranger,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        stranger.get(f"{gateway.url}/healthz")
    # Nor is plain HTTP spoken on the port.
    with pytest.raises(httpx.TransportError):
        httpx.get(gateway.url.replace("https://", "http://") + "/healthz", timeout=10)


def test_a_treatment_exchange_over_https_on_nats_tls_and_postgresql(
    running: dict[str, Gateway],
) -> None:
    patient = seed(running["hospital-a"], claims=1)
    types = ["Patient", "Observation", "Condition"]
    answer = ask(running["hospital-b"], "hospital-a", patient.national_id, "TREAT", types)
    assert answer.status_code == 200, answer.text
    assert types_of(answer.json()) == ["Condition", "Observation", "Observation", "Patient"]
    assert answer.headers["X-Medgate-Access-Tx"]
    metrics = running["hospital-a"].http.get("/metrics").text
    assert "medgate_ledger_view_age_seconds " in metrics


def test_ledger_verify_reads_the_kits_stores_and_a_peer_over_https(
    running: dict[str, Gateway],
) -> None:
    """`medgate ledger verify` on hospital-a's PostgreSQL store, against the NATS log over mutual
    TLS and hospital-b's cosigned checkpoint over HTTPS (trusting hospital-b's registered CA)."""
    seed(running["hospital-a"], claims=0)  # at least one block beyond genesis
    config = running["hospital-a"].folder / "medgate.toml"
    peer = running["hospital-b"].url

    def verified() -> subprocess.CompletedProcess[str] | None:
        done = run_medgate("ledger", "verify", "--config", str(config), "--against", peer)
        return done if done.returncode == 0 else None

    # hospital-b's checkpoint is cosigned once a quorum of members signed it: bounded retries.
    done = None
    for _ in range(40):
        done = verified()
        if done is not None:
            break
        time.sleep(0.5)
    assert done is not None, run_medgate(
        "ledger", "verify", "--config", str(config), "--against", peer
    ).stdout
    assert peer in done.stdout + done.stderr
