"""Peers trust the called member's own CA, as registered on the ledger, and nothing else; plain
HTTP is refused outside a loopback demo, by the client and by `medgate serve`."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.types import Receive, Scope, Send

from gateway.clock import utcnow
from gateway.deploy.members import from_genesis
from gateway.fileperms import private_files
from gateway.identity import certs
from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.identity.files import cert_pem, private_key_pem
from gateway.peers.client import PeerClient
from gateway.peers.errors import PeerTlsError
from gateway.tls import issue_from_ca
from tests.support.nats_cluster import free_port

NOW = utcnow() - timedelta(minutes=5)
MEMBERS = [MemberSpec("hospital-a", "hospital"), MemberSpec("hospital-b", "hospital")]


class Counter:
    """An ASGI app answering 200 and counting the requests that reached it."""

    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.requests += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def https_server(app: Counter, cert: Path | None, key: Path | None) -> Iterator[int]:
    """uvicorn on a free loopback port in a thread, with TLS when ``cert`` is given."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        ssl_certfile=None if cert is None else str(cert),
        ssl_keyfile=None if key is None else str(key),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.01)
        assert server.started
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("peers")
    urls = {m.org: f"https://127.0.0.1:{free_port()}" for m in MEMBERS}
    with private_files():
        create_consortium(root, "peer tls", MEMBERS, urls=urls)
    return root


def registered_ca(root: Path, org: str) -> str:
    """``ca_chain[0]`` of ``org``'s member record, as the client is given it from the ledger."""
    genesis = from_genesis((root / "consortium" / "genesis.json").read_bytes())
    return base64.urlsafe_b64encode(genesis.member(org).ca_der).rstrip(b"=").decode()


def issued_by(root: Path, org: str, out: Path) -> tuple[Path, Path]:
    """A TLS server certificate for 127.0.0.1 from ``org``'s CA, written to ``out``."""
    keys = root / org / "keys"
    key_pem, cert = issue_from_ca(
        keys / "ca.pem", keys / "ca.key", org, "https", ("127.0.0.1",), NOW
    )
    (out / f"{org}.key").write_bytes(key_pem)
    (out / f"{org}.pem").write_bytes(cert)
    return out / f"{org}.pem", out / f"{org}.key"


def self_signed(out: Path) -> tuple[Path, Path]:
    ca = certs.make_ca("impostor", NOW)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = certs.issue(ca, "impostor", "https", key, NOW, tls_hosts=("127.0.0.1",))
    (out / "self.pem").write_bytes(cert_pem(leaf) + cert_pem(ca.cert))
    (out / "self.key").write_bytes(private_key_pem(key))
    return out / "self.pem", out / "self.key"


async def _post(url: str, trust: str | None, *, allow_plain_http: bool = False) -> int:
    client = PeerClient(allow_plain_http=allow_plain_http, total_timeout=10)
    try:
        answer = await client.post(
            url, b"{}", token="t", content_type="application/json", accept="*/*", trust=trust
        )
        return answer.status
    finally:
        await client.close()


def test_a_peer_certificate_from_the_called_members_ca_is_accepted(
    consortium: Path, tmp_path: Path
) -> None:
    app = Counter()
    cert, key = issued_by(consortium, "hospital-a", tmp_path)
    with https_server(app, cert, key) as port:
        trust = registered_ca(consortium, "hospital-a")
        status = asyncio.run(_post(f"https://127.0.0.1:{port}/exchange/query", trust))
    assert status == 200
    assert app.requests == 1


@pytest.mark.parametrize("presented", ["another-member", "self-signed"])
def test_a_certificate_not_from_the_called_members_ca_is_refused(
    consortium: Path, tmp_path: Path, presented: str
) -> None:
    """Calling hospital-b: a server presenting hospital-a's certificate (another member's CA) or
    a self-signed one gets no request."""
    app = Counter()
    if presented == "another-member":
        cert, key = issued_by(consortium, "hospital-a", tmp_path)
    else:
        cert, key = self_signed(tmp_path)
    with https_server(app, cert, key) as port:
        trust = registered_ca(consortium, "hospital-b")
        with pytest.raises(PeerTlsError, match="does not verify against its registered CA"):
            asyncio.run(_post(f"https://127.0.0.1:{port}/exchange/query", trust))
    assert app.requests == 0


def test_a_member_without_a_registered_ca_is_not_called(consortium: Path) -> None:
    with pytest.raises(PeerTlsError, match="no registered CA"):
        asyncio.run(_post("https://127.0.0.1:9/exchange/query", None))


def test_plain_http_peers_are_refused_unless_allowed(tmp_path: Path) -> None:
    app = Counter()
    with https_server(app, None, None) as port:
        url = f"http://127.0.0.1:{port}/exchange/query"
        with pytest.raises(PeerTlsError, match="not https"):
            asyncio.run(_post(url, "unused"))
        assert app.requests == 0
        # A one-machine loopback consortium (init's allow_plain_http) may.
        assert asyncio.run(_post(url, None, allow_plain_http=True)) == 200
    assert app.requests == 1


def _serve(config: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def _error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert line["level"] == "error"
    message: str = line["message"]
    return message


def test_serve_refuses_plain_http_without_the_demo_flag(tmp_path: Path) -> None:
    with private_files():
        created = create_consortium(tmp_path, "plain", MEMBERS[:1], ports=[free_port()])
    config = created.members[0].config
    text = config.read_text()
    assert "allow_plain_http = true" in text  # what init writes for a loopback consortium
    config.write_text(text.replace("allow_plain_http = true\n", ""))
    done = _serve(config)
    assert done.returncode == 2
    assert "plain HTTP is refused" in _error_line(done)


def test_serve_refuses_https_without_its_tls_files(consortium: Path) -> None:
    config = consortium / "hospital-b" / "medgate.toml"
    (consortium / "hospital-b" / "keys" / "tls.key").rename(consortium / "tls.key.moved")
    try:
        done = _serve(config)
    finally:
        (consortium / "tls.key.moved").rename(consortium / "hospital-b" / "keys" / "tls.key")
    assert done.returncode == 2
    assert "server.tls_key: TLS file missing" in _error_line(done)
