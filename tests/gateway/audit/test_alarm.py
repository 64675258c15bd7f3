"""A member equivocates on the checkpoint stream: every running gateway raises the alarm, /readyz
answers 503, the metric says 1, until an operator with system/Ledger.write clears it."""

from __future__ import annotations

import asyncio
import time

import httpx

from gateway.identity.files import load_private_key
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.ids import ConsortiumId, Digest, OrgId
from ledger.ordering.solo import SoloOrdering
from tests.gateway.audit.harness import POLLS, Consortium

HOSPITAL = "hospital-a"


def equivocate(c: Consortium) -> None:
    """agency-c signs two different checkpoints for height 1 (two histories)."""
    key = load_private_key(c.root / "agency-c" / "keys" / "signing.key")
    consortium = ConsortiumId(c.settings[HOSPITAL].consortium)
    messages = [
        sign_checkpoint(
            Checkpoint(consortium, 1, Digest(fill * 64), 2, Digest(fill * 64)),
            OrgId("agency-c"),
            key,
        ).encode()
        for fill in ("a", "b")
    ]

    async def publish() -> None:
        stream = SoloOrdering(c.root / "consortium" / "checkpoints.db")
        try:
            for n, message in enumerate(messages):
                await stream.submit(message, f"forged-{n}")
        finally:
            await stream.close()

    asyncio.run(publish())


def readyz(c: Consortium) -> httpx.Response:
    return httpx.get(f"{c.urls[HOSPITAL]}/readyz", timeout=30)


def wait_status(c: Consortium, status: int) -> httpx.Response:
    response = readyz(c)
    for _ in range(POLLS):
        if response.status_code == status:
            return response
        time.sleep(0.02)
        response = readyz(c)
    raise AssertionError(f"/readyz stayed {response.status_code}: {response.text}")


def clear(c: Consortium, token: str) -> httpx.Response:
    return httpx.post(
        f"{c.urls[HOSPITAL]}/ledger/alarm/clear",
        json={"note": "agency-c key compromise handled"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_equivocation_suspends_readiness_until_an_operator_clears_it(c_alarm: Consortium) -> None:
    c = c_alarm
    assert readyz(c).status_code == 200
    equivocate(c)
    refused = wait_status(c, 503)
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert "equivocation" in refused.json()["issue"][0]["diagnostics"]
    metrics = httpx.get(f"{c.urls[HOSPITAL]}/metrics", timeout=30).text
    assert "medgate_checkpoint_alarm 1" in metrics

    assert clear(c, c.client_token(HOSPITAL)).status_code == 403  # system/*.write is not enough
    response = clear(c, c.client_token(HOSPITAL, "system/Ledger.write"))
    assert response.status_code == 200, response.text
    assert response.json()["cleared"]["finding"] == "equivocation"
    assert response.json()["cleared"]["orgs"] == ["agency-c"]
    assert readyz(c).status_code == 200
    assert clear(c, c.client_token(HOSPITAL, "system/Ledger.write")).json() == {
        "cleared": None,
        "rollback_cleared": None,
    }
