"""Peer exchange routes: for now only ``whoami``; query and deliver come with the ledger."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api.deps import PeerDep

router = APIRouter(prefix="/exchange", tags=["exchange"])


@router.get("/whoami")
def whoami(peer: PeerDep) -> dict[str, str | None]:
    """The verified identity behind the request's peer assertion."""
    return {
        "org": peer.org,
        "purpose_of_use": peer.purpose,
        "consent_reference": peer.consent_ref,
        "jti": peer.jti,
    }
