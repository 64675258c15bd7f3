"""A running consortium for the rotation tests: hospital-a (custodian) and hospital-d (requester)
gateways wired by ``open_gateway`` (real ledger nodes, checkpointers) on their registered loopback
ports, agency-c's key endorsing offline; one manual clock (ms) for everything the gateways time.

Governance entries are signed by the rotating member with its own key and endorsed by another
member's key, then ordered on the shared solo log, the way the existing ledger tests do (the
propose/endorse routes are another change): the quorum is MAJORITY of three.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from gateway.auth import jwt
from gateway.auth.peer import make_peer_assertion
from gateway.clock import now_ms
from gateway.demo.consortium import patient_key
from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.identity.files import load_private_key
from gateway.identity.pseudonym import patient_ref
from gateway.runtime import open_gateway
from gateway.services.ledger import LedgerService
from gateway.settings import Settings
from ledger.entries import decode_entry, make_tx, nonce_from_bytes, sign_entry, tx_id_of
from ledger.ids import OrgId
from ledger.ordering.solo import SoloOrdering
from ledger.signing import kid_of
from ledger.storage.sql import SqlStore
from tests.e2e.gateways import free_base_port
from tests.gateway.audit.harness import run_async
from tests.gateway.member import token_form
from tests.gateway.serve import serve

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-d", "hospital"),
    MemberSpec("agency-c", "agency"),
]
RUNNING = ("hospital-a", "hospital-d")
OVERLAP_S = 120
"""The configured rotation overlap: shorter than a token's life, so that a token refused after it
is refused for its retired key, not for its age."""
MRN_SYSTEM = "urn:oid:hospital-a:mrn"
POLLS = 1500  # x 20 ms: bounded waits for commits


@dataclass
class Clock:
    """The one clock of every running gateway (ms since the epoch), moved only by the test."""

    ms: int = field(default_factory=now_ms)

    def __call__(self) -> int:
        return self.ms

    @property
    def s(self) -> int:
        return self.ms // 1000

    def advance(self, seconds: int) -> None:
        self.ms += seconds * 1000


@dataclass
class Net:
    root: Path
    clock: Clock
    settings: dict[str, Settings]
    urls: dict[str, str]
    apps: dict[str, FastAPI]

    def config(self, org: str) -> Path:
        return self.root / org / "medgate.toml"

    def node(self, org: str) -> LedgerService:
        ledger = self.apps[org].state.services.ledger
        assert isinstance(ledger, LedgerService)
        return ledger

    def auth(self, org: str, scope: str = "system/*.read system/*.write") -> dict[str, str]:
        """A fresh SMART access token of ``org``'s EHR client, asserted at the clock's time."""
        key = load_private_key(self.root / org / "clients" / "ehr.key")
        jwks = json.loads((self.root / org / "clients" / "ehr.jwks.json").read_bytes())
        now = self.clock.s
        claims = {
            "iss": "ehr",
            "sub": "ehr",
            "aud": f"{self.settings[org].public_url}/auth/token",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(12),
        }
        form = token_form(jwt.sign(claims, key, jwks["keys"][0]["kid"]), scope)
        answer = httpx.post(f"{self.urls[org]}/auth/token", data=form, timeout=30)
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def create(self, org: str, resource: dict[str, Any]) -> str:
        headers = {**self.auth(org), "Content-Type": "application/fhir+json"}
        made = httpx.post(
            f"{self.urls[org]}/fhir/{resource['resourceType']}",
            content=orjson.dumps(resource),
            headers=headers,
            timeout=30,
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    def outbound_query(self, mrn: str, auth: dict[str, str]) -> httpx.Response:
        """hospital-d's EHR asks hospital-a, through hospital-d's gateway, for Observations."""
        body = {
            "custodian": "hospital-a",
            "patient": {"system": MRN_SYSTEM, "value": mrn},
            "purpose": "TREAT",
            "resource_types": ["Observation"],
        }
        return httpx.post(
            f"{self.urls['hospital-d']}/outbound/query", json=body, headers=auth, timeout=30
        )

    def peer_query(self, mrn: str, key: ec.EllipticCurvePrivateKey) -> httpx.Response:
        """hospital-d's request to hospital-a's /exchange/query, its assertion signed with ``key``
        at the clock's time: what a hospital-d gateway still holding ``key`` would send."""
        token = make_peer_assertion(
            key,
            org="hospital-d",
            audience=self.settings["hospital-a"].public_url,
            purpose="TREAT",
            now=self.clock.s,
        )
        ref = patient_ref(patient_key(self.root, "hospital-a"), MRN_SYSTEM, mrn)
        body = {"patient_ref": ref, "resource_types": ["Observation"], "purpose": "TREAT"}
        return httpx.post(
            f"{self.urls['hospital-a']}/exchange/query",
            content=orjson.dumps(body),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=30,
        )

    def signed(
        self,
        org: str,
        type_: str,
        body: dict[str, Any],
        *,
        key: ec.EllipticCurvePrivateKey,
        endorsers: tuple[str, ...] = (),
        ts: int | None = None,
    ) -> tuple[bytes, str]:
        """A leaf of ``org`` signed with ``key`` at ``ts`` (default: the clock's time), endorsed
        by the current signing keys of ``endorsers``."""
        nonce = nonce_from_bytes(secrets.token_bytes(16))
        when = self.clock.ms if ts is None else ts
        tx = make_tx(type_, OrgId(org), kid_of(key.public_key()), when, nonce, body)
        signers = {OrgId(e): self.current_key(e) for e in endorsers}
        return sign_entry(tx, key, signers), tx_id_of(tx)

    def current_key(self, org: str) -> ec.EllipticCurvePrivateKey:
        """The key ``org`` signs with now: its node's when it runs, else its key file."""
        if org in self.apps:
            return self.node(org).signing_key
        return load_private_key(self.root / org / "keys" / "signing.key")

    def order(self, *leaves: tuple[bytes, str]) -> None:
        """Order ``leaves`` in this order, as one batch of the solo log."""

        async def submit() -> None:
            log = SoloOrdering(self.root / "consortium" / "ordering.db")
            try:
                await log.submit_many(list(leaves))
            finally:
                await log.close()

        run_async(submit())

    def code(self, org: str, tx_id: str) -> int:
        """The validation code ``org``'s node committed ``tx_id`` with (bounded wait)."""
        store = SqlStore(f"sqlite:///{self.root / org / 'data' / 'ledger.db'}")
        try:
            for _ in range(POLLS):
                entry = store.entry_by_tx(tx_id)  # type: ignore[arg-type]
                if entry is not None:
                    return entry.code
                time.sleep(0.02)
        finally:
            store.close()
        raise AssertionError(f"{tx_id} not committed at {org}")

    def entry_kid(self, org: str, tx_id: str) -> str:
        store = SqlStore(f"sqlite:///{self.root / org / 'data' / 'ledger.db'}")
        try:
            self.code(org, tx_id)
            entry = store.entry_by_tx(tx_id)  # type: ignore[arg-type]
            assert entry is not None
            return str(decode_entry(entry.leaf).tx["kid"])
        finally:
            store.close()

    def block_ts_of(self, org: str, tx_id: str) -> int:
        """The ts of the block that committed ``tx_id`` at ``org``."""
        self.code(org, tx_id)

        def read(store: SqlStore) -> int:
            entry = store.entry_by_tx(tx_id)  # type: ignore[arg-type]
            assert entry is not None
            header = store.block(entry.height)
            assert header is not None
            return header.ts

        return int(self.read(org, read))

    def read(self, org: str, read: Callable[[SqlStore], Any]) -> Any:
        store = SqlStore(f"sqlite:///{self.root / org / 'data' / 'ledger.db'}")
        try:
            return read(store)
        finally:
            store.close()


def _with_overlap(config: Path, seconds: int) -> None:
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[keys]\n", f"[keys]\nrotation_overlap_seconds = {seconds}\n"),
        encoding="utf-8",
    )


@contextmanager
def rotation_net(
    root: Path, running: tuple[str, ...] = RUNNING, cut_after: float = 0.02
) -> Iterator[Net]:
    """The consortium with ``running`` served; ``cut_after`` their nodes' block timer (an hour:
    the test cuts blocks itself, with ``Cutter``)."""
    base = free_base_port(len(MEMBERS))
    created = create_consortium(root, "rotation", MEMBERS, base_port=base)
    for m in created.members:
        _with_overlap(m.config, OVERLAP_S)
    settings = {m.org: Settings.load(m.config) for m in created.members}
    clock = Clock()
    with ExitStack() as stack:
        urls, apps = {}, {}
        for offset, spec in enumerate(MEMBERS):
            if spec.org in running:  # peers reach each other at their registered URLs
                app = run_async(
                    open_gateway(settings[spec.org], cut_after=cut_after, clock_ms=clock)
                )
                apps[spec.org] = app
                urls[spec.org] = stack.enter_context(serve(app, base + offset))
        yield Net(root, clock, settings, urls, apps)


@dataclass
class Traffic:
    """Requests sent without pause on another thread while a test changes keys: every answer's
    status, to show the member kept serving (bounded: at most ``limit`` requests)."""

    send: Callable[[], int]
    limit: int = 2000
    statuses: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        for _ in range(self.limit):
            if self._stop.is_set():
                return
            self.statuses.append(self.send())

    @contextmanager
    def flowing(self) -> Iterator[Traffic]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=60)
