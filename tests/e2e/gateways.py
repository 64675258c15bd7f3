"""Real gateways for end-to-end tests: a consortium on disk, each member's `medgate serve` in its
own OS process on a free loopback port, SMART tokens for its EHR client, and its ledger state."""

from __future__ import annotations

import contextlib
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth import jwt
from gateway.auth.keys import kid_of
from gateway.identity.consortium import MemberSpec, create_consortium
from ledger.storage.sql import SqlStore

READY_TIMEOUT_S = 60.0
COMMIT_TIMEOUT_S = 20.0
POLL_S = 0.05
MEDGATE = str(Path(sys.executable).parent / "medgate")
T = TypeVar("T")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_base_port(count: int) -> int:
    """The first of ``count`` consecutive loopback ports free now (bounded tries)."""
    for _ in range(200):
        base = 20000 + secrets.randbelow(30000)
        if all(_port_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no run of free loopback ports")


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = COMMIT_TIMEOUT_S) -> T:
    """Poll ``probe`` until it returns something (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(POLL_S)


@dataclass
class Gateway:
    org: str
    role: str
    url: str
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def token(self, scope: str = "system/*.read system/*.write", client: str = "ehr") -> str:
        """An access token of this member's SMART client ``client`` (its key in clients/)."""
        key = serialization.load_pem_private_key(
            (self.folder / "clients" / f"{client}.key").read_bytes(), None
        )
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        now = int(time.time())
        claims = {
            "iss": client,
            "sub": client,
            "aud": f"{self.url}/auth/token",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(12),
        }
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": jwt.sign(claims, key, kid_of(key.public_key())),
            "scope": scope,
        }
        response = self.http.post("/auth/token", data=form)
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        assert isinstance(token, str)
        return token

    def auth(self, scope: str = "system/*.read system/*.write") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(scope)}"}

    def create(self, resource: dict[str, Any], headers: dict[str, str]) -> str:
        """POST a resource to this gateway's FHIR API; its new id."""
        response = self.http.post(
            f"/fhir/{resource['resourceType']}",
            content=orjson.dumps(resource),
            headers={**headers, "Content-Type": "application/fhir+json"},
        )
        assert response.status_code == 201, response.text
        new_id = response.json()["id"]
        assert isinstance(new_id, str)
        return new_id

    @contextlib.contextmanager
    def ledger(self) -> Iterator[SqlStore]:
        """This member's own ledger store, read from outside its process (SQLite WAL)."""
        store = SqlStore(f"sqlite:///{self.folder / 'data' / 'ledger.db'}")
        try:
            yield store
        finally:
            store.close()

    def read_state(self, read: Callable[[SqlStore], T]) -> T:
        with self.ledger() as store:
            return read(store)


class Consortium:
    """``with Consortium(root, specs) as c:`` every member's gateway running in its own process."""

    def __init__(
        self, root: Path, specs: list[MemberSpec], nats_servers: list[str] | None = None
    ) -> None:
        created = create_consortium(root, "e2e", specs, base_port=free_base_port(len(specs)))
        self.gateways = {
            m.org: Gateway(m.org, m.role, m.public_url, m.config.parent) for m in created.members
        }
        if nats_servers:
            for gateway in self.gateways.values():
                _use_nats(gateway.folder / "medgate.toml", nats_servers)

    def __getitem__(self, org: str) -> Gateway:
        return self.gateways[org]

    def __enter__(self) -> Consortium:
        try:
            for gateway in self.gateways.values():
                with (gateway.folder / "serve.log").open("wb") as log:
                    # The child holds its own copy of the log descriptor.
                    gateway.process = subprocess.Popen(
                        [MEDGATE, "serve", "--config", str(gateway.folder / "medgate.toml")],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
            for gateway in self.gateways.values():
                self._wait_ready(gateway)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _wait_ready(self, gateway: Gateway) -> None:
        def ready() -> bool:
            assert gateway.process is not None
            if gateway.process.poll() is not None:
                log = (gateway.folder / "serve.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{gateway.org} exited:\n{log}")
            try:
                return gateway.http.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, f"{gateway.org} ready", READY_TIMEOUT_S)

    def stop(self) -> None:
        for gateway in self.gateways.values():
            if gateway.process is not None and gateway.process.poll() is None:
                gateway.process.terminate()
        for gateway in self.gateways.values():
            if gateway.process is not None:
                try:
                    gateway.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    gateway.process.kill()
                    gateway.process.wait(timeout=5)
            gateway.http.close()


def _use_nats(config: Path, servers: list[str]) -> None:
    text = config.read_text(encoding="utf-8")
    text = text.replace('backend = "solo"', 'backend = "nats"')
    listed = ", ".join(f'"{s}"' for s in servers)
    text = re.sub(r"nats_servers = \[\]", f"nats_servers = [{listed}]", text)
    config.write_text(text, encoding="utf-8")
