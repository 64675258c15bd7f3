"""Routes: governance proposals on a running network (list, propose, endorse).

Reading is as for the ledger (``system/Ledger.read`` or a peer assertion). Proposing and endorsing
sign with this member's own signing key, so they take a SMART token of this member's own client
naming ``system/Ledger.write`` explicitly (``system/*.write`` does not do: an endorsement is an
operator's deliberate act, as clearing the checkpoint alarm is). See docs/governance.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from gateway.api import schemas
from gateway.api.contract import Scheme, secured
from gateway.api.deps import GrantDep, Services, ServicesDep
from gateway.api.ledger_api import ReaderDep
from gateway.auth.smart import AccessGrant
from gateway.errors import ForbiddenError, UnavailableError
from gateway.services.proposals import ProposalService

router = APIRouter(prefix="/governance", tags=["governance"])
ProposalId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]


def _proposals(svc: Services) -> ProposalService:
    if svc.proposals is None:
        raise UnavailableError("this gateway follows no proposal stream")
    return svc.proposals


def _operator(grant: AccessGrant) -> None:
    if not any(s.resource == "Ledger" and s.action in ("write", "*") for s in grant.scopes):
        raise ForbiddenError("scope system/Ledger.write required (named explicitly)")


class ProposeBody(BaseModel):
    type: Literal["member.add", "member.update", "member.remove", "policy.set"]
    body: dict[str, Any] = Field(description="the entry body, as docs/ledger-entries.md states it")
    ttl_seconds: int | None = Field(
        None, ge=1, le=30 * 24 * 3600, description="expiry after proposal (default 72 h)"
    )


class EndorseBody(BaseModel):
    digest: str | None = Field(
        None,
        pattern=schemas.HEX64,
        description="the digest the operator reviewed: refused (409) unless it is the proposal's",
    )


_READ = secured(Scheme.SMART, Scheme.PEER, errors=(403, 503), ok=schemas.ProposalList)


@router.get("/proposals", **_READ)
async def list_proposals(svc: ServicesDep, _: ReaderDep) -> dict[str, Any]:
    """Every proposal of the consortium's proposal stream, with its status and quorum."""
    return {"proposals": await _proposals(svc).describe_all()}


@router.get(
    "/proposals/{proposal_id}",
    **secured(Scheme.SMART, Scheme.PEER, errors=(403, 404, 503), ok=schemas.Proposal),
)
async def get_proposal(svc: ServicesDep, _: ReaderDep, proposal_id: ProposalId) -> dict[str, Any]:
    return await _proposals(svc).describe_one(proposal_id)


@router.post(
    "/proposals",
    **secured(Scheme.SMART, errors=(403, 409, 422, 503), ok=schemas.Proposal),
)
async def propose(svc: ServicesDep, grant: GrantDep, body: ProposeBody) -> dict[str, Any]:
    """Sign the governance entry as this member (its submitter) and publish it as a proposal."""
    _operator(grant)
    ttl_ms = None if body.ttl_seconds is None else body.ttl_seconds * 1000
    return await _proposals(svc).propose(body.type, body.body, ttl_ms)


@router.post(
    "/proposals/{proposal_id}/endorsements",
    **secured(Scheme.SMART, errors=(403, 404, 409, 410, 503), ok=schemas.Proposal),
)
async def endorse(
    svc: ServicesDep, grant: GrantDep, proposal_id: ProposalId, body: EndorseBody | None = None
) -> dict[str, Any]:
    """Endorse with this member's own key; at quorum the entry is submitted and this answers
    once it is committed here (``status`` committed, ``entry`` its height)."""
    _operator(grant)
    return await _proposals(svc).endorse(proposal_id, None if body is None else body.digest)
