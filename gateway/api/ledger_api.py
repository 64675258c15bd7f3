"""Routes: read access to this member's ledger (head, blocks, entries, final checkpoint, proofs) and
the operator's alarm clearing.

Who may read: the member's own SMART clients holding ``system/Ledger.read`` (``system/*.read``
covers it) and peer gateways with a peer assertion (any purpose). No PHI is on the ledger, but
access patterns (which entry, which proof) are sensitive, so nothing here is anonymous.

Patients (a patient token of this gateway) may read consistency proofs only: a consistency proof
is hashes of the whole tree, nothing of any patient, and it is how a patient's app checks that the
history it saw at one checkpoint was not rewritten by the next. Entries and inclusion proofs by
index point at other patients' accesses: not theirs to read (401). See docs/patient-proofs.md.

Who may clear a checkpoint alarm: a SMART client of this member whose token names
``system/Ledger.write`` explicitly (a ``system/*.write`` token does not: clearing suspends a
safety stop, so it is an operator's deliberate act). Register a dedicated operator client with
that scope in medgate.toml; the operator's tool signs its client assertion like any backend client.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from gateway.api import schemas
from gateway.api.contract import Scheme, secured
from gateway.api.deps import BearerDep, GrantDep, Services, ServicesDep, verify_peer
from gateway.auth.scopes import Action, allows
from gateway.errors import AuthError, ForbiddenError, NotFoundError, UnavailableError
from gateway.services import ledger_view as view
from gateway.services.ledger import LedgerService

router = APIRouter(prefix="/ledger", tags=["ledger_api"])
MAX_HEIGHT = 2**63 - 1
"""Heights are SQL BIGINTs: a larger one names no block (and must not reach the SQL bind)."""


def _reader(ok: type[BaseModel], *errors: int) -> dict[str, Any]:
    return secured(Scheme.SMART, Scheme.PEER, errors=(403, 503, *errors), ok=ok)


def ledger_reader(svc: ServicesDep, token: BearerDep) -> str:
    """``client:<id>`` or ``peer:<org>``; 401 unless one of the two verifies, 403 without scope."""
    try:
        grant = svc.tokens.check(token, svc.clock())
    except AuthError:
        if svc.directory is None:
            raise
        return f"peer:{verify_peer(svc, token).org}"
    if not allows(grant.scopes, "Ledger", Action.READ):
        raise ForbiddenError("scope system/Ledger.read required")
    return f"client:{grant.client_id}"


ReaderDep = Annotated[str, Depends(ledger_reader)]


def proof_reader(svc: ServicesDep, token: BearerDep) -> str:
    """As ``ledger_reader``, or ``patient:<ref>`` for a patient token of this gateway (401 if it
    does not verify: expired, forged, another gateway's)."""
    patients = svc.patient_tokens
    if patients is not None and patients.addressed_here(token):
        return f"patient:{patients.check(token, svc.clock())}"
    return ledger_reader(svc, token)


ProofReaderDep = Annotated[str, Depends(proof_reader)]


def _ledger(svc: Services) -> LedgerService:
    if svc.ledger is None:
        raise UnavailableError("this gateway runs no ledger node")
    return svc.ledger


@router.get("/head", **_reader(schemas.BlockHeader))
async def head(svc: ServicesDep, _: ReaderDep) -> dict[str, Any]:
    """The last committed block: height, block hash, tree size and root."""
    store = _ledger(svc).store
    return view.header_json(await run_in_threadpool(view.committed_head, store))


@router.get("/blocks/{height}", **_reader(schemas.BlockHeader, 404))
async def block(svc: ServicesDep, _: ReaderDep, height: int) -> dict[str, Any]:
    """The header of the block at ``height``; 404 past the head."""
    if height > MAX_HEIGHT:
        raise NotFoundError("no such block")
    return await run_in_threadpool(view.block_json, _ledger(svc).store, height)


@router.get("/checkpoint", **_reader(schemas.CosignedCheckpoint))
def checkpoint(svc: ServicesDep, _: ReaderDep) -> dict[str, Any]:
    """The highest quorum-cosigned checkpoint of this member's chain (ledger.checkpoint's wire
    form, verifiable with ``verify_cosigned`` against the member list and quorum rule)."""
    final = None if svc.checkpointer is None else svc.checkpointer.final()
    if final is None:
        raise UnavailableError("no checkpoint is final yet")
    return final.to_json()


@router.get("/entries/{index}", **_reader(schemas.LedgerEntry, 404))
async def entry(svc: ServicesDep, _: ReaderDep, index: int) -> dict[str, Any]:
    """Leaf ``index`` as stored, with its tx_id, validation code and block height."""
    return await run_in_threadpool(view.entry_json, _ledger(svc).store, index)


@router.get("/proof/inclusion", **_reader(schemas.InclusionProof))
async def inclusion(
    svc: ServicesDep, _: ReaderDep, index: Annotated[int, Query()], size: Annotated[int, Query()]
) -> dict[str, Any]:
    return await run_in_threadpool(view.inclusion_json, _ledger(svc).store, index, size)


@router.get(
    "/proof/consistency",
    **secured(
        Scheme.SMART, Scheme.PEER, Scheme.PATIENT, errors=(403, 503), ok=schemas.ConsistencyProof
    ),
)
async def consistency(
    svc: ServicesDep,
    _: ProofReaderDep,
    first: Annotated[int, Query(alias="from")],
    second: Annotated[int, Query(alias="to")],
) -> dict[str, Any]:
    """RFC 9162 consistency proof that the tree of ``to`` entries extends that of ``from``
    (``0 < from <= to <=`` the committed size, else 400); patient tokens may ask too."""
    return await run_in_threadpool(view.consistency_json, _ledger(svc).store, first, second)


class AlarmClear(BaseModel):
    note: str = Field(min_length=1, max_length=500, description="what the operator checked")


@router.post("/alarm/clear", **secured(Scheme.SMART, errors=(403, 503), ok=schemas.AlarmCleared))
def clear_alarm(svc: ServicesDep, grant: GrantDep, body: AlarmClear) -> dict[str, Any]:
    """Clear the checkpoint alarm and the rollback alarm; answers what was cleared (null if nothing
    was raised). A divergence that persists raises a new alarm at the next block."""
    if not any(s.resource == "Ledger" and s.action in ("write", "*") for s in grant.scopes):
        raise ForbiddenError("scope system/Ledger.write required (named explicitly)")
    if svc.checkpointer is None:
        raise UnavailableError("this gateway runs no checkpointer")
    note = f"{grant.client_id}: {body.note}"
    cleared = svc.checkpointer.clear_alarm(note)
    rollback = None if svc.rollback is None else svc.rollback.clear(note)
    return {
        "cleared": None if cleared is None else cleared.describe(),
        "rollback_cleared": rollback,
    }
