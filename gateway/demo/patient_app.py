"""The patient's own app in the demo: signs in at the hospital with an invitation code, remembers the
cosigned checkpoint it saw, reads the access log once it shows every access the walkthrough made,
and proves with the patient token alone that the log it reads extends the one it saw."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway import clock as wall_clock
from gateway.cli.patient_auth_cmd import invite
from gateway.demo.checks import Access, compare_log
from gateway.demo.client import EhrClient
from gateway.demo.patient_sign_in import sign_in
from gateway.demo.proofs import check_history, verified_checkpoint
from gateway.settings import Settings
from ledger.checkpoint import Checkpoint
from ledger.errors import LedgerError

POLL_SECONDS = 0.25


class PatientApp:
    """One patient's app at hospital-a (``hospital``: the gateway's address and an HTTP session)."""

    def __init__(self, root: Path, hospital: EhrClient, system: str, value: str) -> None:
        self._root = root
        self._hospital = hospital
        self._identifier = {"system": system, "value": value}
        self.token = ""
        self.seen: Checkpoint | None = None

    async def sign_in(self) -> int:
        """The hospital prints an invitation code for the patient, who signs in with it at the
        portal (authorization code + PKCE); the HTTP status (200: signed in)."""
        settings = Settings.load(self._root / "hospital-a" / "medgate.toml")
        issued = await asyncio.to_thread(
            invite,
            settings,
            self._identifier["system"],
            self._identifier["value"],
            wall_clock.now_ms() // 1000,
        )
        if issued is None:
            return 404
        hospital = self._hospital
        done = await sign_in(hospital.session, hospital.base_url, settings.public_url, issued.code)
        self.token = done.access_token
        return done.status

    async def _audit(self) -> dict[str, Any]:
        reply = await self._hospital.call("GET", "/patient/audit", bearer=self.token)
        return reply.body if reply.status == 200 and isinstance(reply.body, dict) else {}

    async def remember_checkpoint(self, timeout: float = 20.0) -> Checkpoint | None:
        """The first final checkpoint the app sees (bounded wait), verified and remembered."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (cosigned := (await self._audit()).get("checkpoint")) is None:
            if asyncio.get_running_loop().time() > deadline:
                return None
            await asyncio.sleep(POLL_SECONDS)
        try:
            self.seen = verified_checkpoint(self._root, cosigned)
        except LedgerError:
            return None
        return self.seen

    async def final_log(self, made: Sequence[Access], timeout: float = 20.0) -> dict[str, Any]:
        """The log once it shows every access ``made``, each covered by a final checkpoint
        (bounded wait: the last access may still be in no block, or newer than the checkpoint)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            log = await self._audit()
            done = compare_log(made, log.get("entries", [])).ok
            if done or asyncio.get_running_loop().time() > deadline:
                return log
            await asyncio.sleep(POLL_SECONDS)

    async def prove_history(self, log: dict[str, Any]) -> tuple[bool, str]:
        """Whether the log's checkpoint extends the remembered one, by a consistency proof fetched
        with the patient token; and a line saying so."""
        if self.seen is None or log.get("checkpoint") is None:
            return False, "no two checkpoints to compare"
        try:
            newer = verified_checkpoint(self._root, log["checkpoint"])
        except LedgerError as exc:
            return False, f"checkpoint refused: {exc}"
        older = self.seen
        path = f"/ledger/proof/consistency?from={older.tree_size}&to={newer.tree_size}"
        reply = await self._hospital.call("GET", path, bearer=self.token)
        if reply.status != 200:
            return False, f"no consistency proof for the patient token: HTTP {reply.status}"
        return check_history(older, newer, reply.body)
