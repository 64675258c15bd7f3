"""Deliveries received from peers: open and verify the envelope, store the resources it carries.

Each entry is validated at ingest like any write and stored under a fresh id of this store (a
sender must never choose which local records it overwrites); references between the delivered
resources are rewritten to the new ids, so the delivered set stays linked.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.auth.peer import PeerIdentity
from gateway.crypto.errors import EnvelopeError
from gateway.errors import BadRequestError
from gateway.fhir.service import FhirService
from gateway.services.exchange import Exchange, open_mine

MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Stored:
    references: tuple[str, ...]
    """``Type/id`` of each stored resource, in the Bundle's order."""
    envelope_digest: str


async def accept_delivery(ex: Exchange, peer: PeerIdentity, envelope: bytes) -> Stored:
    """Open ``envelope`` (sealed for this member, signed by ``peer``) and store its entries.
    Raises BadRequestError (does not open or verify, not a Bundle), InvalidResourceError."""
    await ex.member_async(peer.org)
    try:
        opened = open_mine(ex, envelope)
    except EnvelopeError as exc:
        raise BadRequestError(f"the envelope does not open: {type(exc).__name__}") from exc
    if opened.sender_org != peer.org:
        # The signer must be the member that authenticated this request: no relaying of others'.
        raise BadRequestError("the envelope is signed by another member than the caller")
    resources = _resources(opened.payload)
    refs = await asyncio.to_thread(store_all, ex.fhir, resources)
    return Stored(tuple(refs), opened.digest)


def _resources(payload: bytes) -> list[dict[str, Any]]:
    try:
        bundle = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError("the delivered payload is not JSON") from exc
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BadRequestError("the delivered payload is not a Bundle")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise BadRequestError("the Bundle's entries are malformed or too many")
    found = [e.get("resource") for e in entries if isinstance(e, dict)]
    return [r for r in found if isinstance(r, dict) and isinstance(r.get("resourceType"), str)]


def store_all(fhir: FhirService, resources: list[dict[str, Any]]) -> list[str]:
    """Store each resource under a fresh id, references between them rewritten."""
    renamed = {
        f"{r['resourceType']}/{r.get('id')}": f"{r['resourceType']}/{secrets.token_hex(16)}"
        for r in resources
    }
    out = []
    for resource in resources:
        new_ref = renamed[f"{resource['resourceType']}/{resource.get('id')}"]
        type_, new_id = new_ref.split("/")
        body = _rewritten({**resource, "id": new_id}, renamed)
        fhir.update(type_, new_id, orjson.dumps(body), None)
        out.append(new_ref)
    return out


def _rewritten(value: Any, renamed: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: _rewritten(v, renamed) for k, v in value.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and "/".join(ref.split("/")[-2:]) in renamed:
            out["reference"] = renamed["/".join(ref.split("/")[-2:])]
        return out
    if isinstance(value, list):
        return [_rewritten(v, renamed) for v in value]
    return value
