"""Route: the consortium policy in force (``GET /policy``), as the ledger state records it.

The ledger records the policy's version and digest (set at genesis); the document itself is the
one this gateway holds, served only when its digest is the one in force: a gateway never shows a
policy it would not decide with. Readable with any credential this gateway accepts (a member's
own client, a peer gateway, a patient): the rules are what every party's access rests on.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from gateway.api import schemas
from gateway.api.contract import Scheme, secured
from gateway.api.deps import BearerDep, Services, ServicesDep, verify_peer
from gateway.errors import AuthError, UnavailableError
from gateway.services.ledger_view import committed_head
from ledger.state import policy as policy_in_force
from ledger.storage.base import Store
from policies.document import default_policy_bytes, load_policy, parse_document

router = APIRouter(tags=["policy"])


def any_reader(svc: ServicesDep, token: BearerDep) -> str:
    """Who asks: a SMART client (any scope), a patient, or a peer gateway; 401 otherwise."""
    try:
        return f"client:{svc.tokens.check(token, svc.clock()).client_id}"
    except AuthError:
        pass
    if svc.patient_tokens is not None:
        try:
            return f"patient:{svc.patient_tokens.check(token, svc.clock())}"
        except AuthError:
            pass
    if svc.directory is None:
        raise AuthError("a client, patient or peer credential is required")
    return f"peer:{verify_peer(svc, token).org}"


ReaderDep = Annotated[str, Depends(any_reader)]


@router.get(
    "/policy",
    **secured(Scheme.SMART, Scheme.PEER, Scheme.PATIENT, errors=(503,), ok=schemas.PolicyInForce),
)
async def policy(svc: ServicesDep, _: ReaderDep) -> dict[str, Any]:
    """The consortium policy in force: version, digest, the index of the entry that set it, the
    ledger height read at, and the document (roles, purposes of use, rules)."""
    return await run_in_threadpool(_in_force, _store(svc))


def _store(svc: Services) -> Store:
    if svc.ledger is None:
        raise UnavailableError("this gateway runs no ledger node")
    return svc.ledger.store


def _in_force(store: Store) -> dict[str, Any]:
    found = policy_in_force(store)
    head = committed_head(store)
    if found is None:
        raise UnavailableError("the ledger records no policy yet")
    raw = default_policy_bytes()
    if load_policy(raw).digest != found.digest:
        raise UnavailableError("the consortium policy in force is not the one this gateway holds")
    return {
        "version": found.version,
        "digest": found.digest,
        "set_at_index": found.index,
        "height": head.height,
        "document": parse_document(raw),
    }
