"""The requester's side of the exchange: ask a custodian, or deliver to recipients, for our clients.

Query: the patient is named to the custodian only by patient_ref (the identifier stays here); the
answer must be an envelope sealed for this member and signed by the custodian asked, and the
client receives the plain Bundle inside. Deliver: the sender is the custodian of what it pushes, so
it decides per recipient, records each release (or denial) before anything leaves, and seals one
envelope per distinct payload for all the recipients that receive it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.auth.peer import make_peer_assertion
from gateway.crypto.envelope import seal
from gateway.crypto.errors import EnvelopeError
from gateway.errors import BadRequestError, GatewayError
from gateway.fhir.validation import parse_resource
from gateway.identity.pseudonym import patient_ref
from gateway.peers.client import PeerResponse
from gateway.peers.errors import ACCESS_TX_HEADER, OBLIGATIONS_HEADER, BadPeerAnswer, PeerRefusal
from gateway.services.exchange import Exchange, open_mine, recipient_of
from gateway.services.obligations import released, rows_of_bundle
from gateway.services.release import Custodian, audience_for
from ledger.state import Member
from policies import Decision, Effect, Request, decide

JOSE_JSON = "application/jose+json"
FHIR_JSON = "application/fhir+json"
MAX_ENTRIES = 1000


@dataclass(frozen=True, slots=True)
class QueryResult:
    bundle: bytes
    access_tx: str
    obligations: str


@dataclass(frozen=True, slots=True)
class Delivery:
    org: str
    status: str
    """delivered, denied (policy), refused:<http status> (the recipient), unavailable."""
    tx_id: str | None


async def query(
    ex: Exchange,
    *,
    custodian: str,
    system: str,
    value: str,
    purpose: str,
    resource_types: Sequence[str],
    break_glass: bool = False,
    consent_ref: str | None = None,
    break_glass_started: int | None = None,
) -> QueryResult:
    """Ask ``custodian`` for the patient's records. Raises PeerRefusal (the custodian's answer),
    BadPeerAnswer, UnavailableError, ForbiddenError (custodian not an active member)."""
    target = await ex.member_async(custodian)
    body = {
        "patient_ref": patient_ref(ex.patient_key, system, value),
        "resource_types": list(resource_types),
        "purpose": purpose,
        "break_glass": break_glass,
        "consent_ref": consent_ref,
        "break_glass_started": break_glass_started,
    }
    answer = await _post(ex, target, "/exchange/query", orjson.dumps(body), purpose, consent_ref)
    if answer.status != 200:
        raise refusal(answer)
    try:
        opened = open_mine(ex, answer.body)
    except EnvelopeError as exc:
        raise BadPeerAnswer(
            f"the custodian's envelope does not verify: {type(exc).__name__}"
        ) from exc
    if opened.sender_org != custodian:
        raise BadPeerAnswer("the envelope is not signed by the custodian asked")
    return QueryResult(
        opened.payload,
        answer.headers.get(ACCESS_TX_HEADER.lower(), ""),
        answer.headers.get(OBLIGATIONS_HEADER.lower(), ""),
    )


async def _post(
    ex: Exchange, target: Member, path: str, body: bytes, purpose: str, consent_ref: str | None
) -> PeerResponse:
    token = make_peer_assertion(
        ex.peer_signer[0],
        org=ex.org,
        audience=target.endpoint,
        purpose=purpose,
        now=ex.clock_ms() // 1000,
        consent_ref=consent_ref,
    )
    content_type = "application/json" if path.endswith("query") else JOSE_JSON
    url = target.endpoint.rstrip("/") + path
    trust = target.ca_chain[0] if target.ca_chain else None  # the member's own CA, nobody else's
    return await ex.peers.post(
        url, body, token=token, content_type=content_type, accept="*/*", trust=trust
    )


def refusal(answer: PeerResponse) -> GatewayError:
    """The custodian's OperationOutcome relayed with its status (502 when it is not one)."""
    try:
        issue = orjson.loads(answer.body)["issue"][0]
        code, diagnostics = str(issue["code"]), str(issue.get("diagnostics", ""))
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return BadPeerAnswer(f"the custodian answered {answer.status} without an OperationOutcome")
    if not 400 <= answer.status <= 599:
        return BadPeerAnswer(f"the custodian answered {answer.status}")
    return PeerRefusal(
        answer.status,
        code,
        diagnostics,
        answer.headers.get(ACCESS_TX_HEADER.lower()),
        _seconds(answer.headers.get("retry-after")),
    )


def _seconds(value: str | None) -> int | None:
    """A Retry-After in whole seconds (RFC 9110), bounded to a day; None when absent or not that
    form (an HTTP date from a peer is not passed on)."""
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 6:
        return None
    return min(int(value), 86400)


async def deliver(
    ex: Exchange,
    *,
    recipients: Sequence[str],
    purpose: str,
    system: str,
    value: str,
    bundle: dict[str, object],
) -> list[Delivery]:
    """Push ``bundle`` (a validated R4 Bundle) to each recipient under ``purpose``."""
    ex.guard()
    ref = patient_ref(ex.patient_key, system, value)
    types = sorted(entry_types(bundle))
    members = await asyncio.gather(*(ex.member_async(org) for org in recipients))
    decisions = []
    now = ex.clock_ms()
    for target in members:
        request = Request(target.org, target.role, ex.org, ref, tuple(types), purpose)
        facts = await asyncio.to_thread(ex.facts.facts, ref, target.org)
        decisions.append((target, request, decide(request, facts, now)))
    envelopes = _seal_groups(ex, bundle, decisions)
    custodian = Custodian(ex)
    txs = await asyncio.gather(
        *(custodian.record(r, d, envelopes.get(t.org), decided_at=now) for t, r, d in decisions)
    )
    sends = [
        _send(ex, target, envelopes.get(target.org), purpose, tx)
        for (target, _, _), tx in zip(decisions, txs, strict=True)
    ]
    return list(await asyncio.gather(*sends))


async def _send(
    ex: Exchange, target: Member, envelope: bytes | None, purpose: str, tx: str
) -> Delivery:
    if envelope is None:
        return Delivery(target.org, "denied", tx)
    try:
        answer = await _post(ex, target, "/exchange/deliver", envelope, purpose, None)
    except GatewayError:
        return Delivery(target.org, "unavailable", tx)
    status = "delivered" if answer.status == 200 else f"refused:{answer.status}"
    return Delivery(target.org, status, tx)


def validated_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """``bundle`` when it is a Bundle with 1..MAX_ENTRIES entries, each an R4 resource of a type
    this gateway stores (validated as at ingest). Raises BadRequestError, InvalidResourceError."""
    entries = bundle.get("entry")
    if bundle.get("resourceType") != "Bundle" or not isinstance(entries, list):
        raise BadRequestError("bundle must be a FHIR Bundle with entries")
    if not 0 < len(entries) <= MAX_ENTRIES:
        raise BadRequestError(f"a delivery holds 1 to {MAX_ENTRIES} entries")
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise BadRequestError("every entry must hold a resource")
        parse_resource(orjson.dumps(resource), resource["resourceType"])
    return bundle


def entry_types(bundle: dict[str, object]) -> set[str]:
    entries = bundle.get("entry")
    found = set()
    for entry in entries if isinstance(entries, list) else ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
            found.add(resource["resourceType"])
    return found


def _seal_groups(
    ex: Exchange, bundle: dict[str, object], decisions: list[tuple[Member, Request, Decision]]
) -> dict[str, bytes]:
    """One envelope per distinct payload, sealed for every recipient that receives it."""
    groups: dict[bytes, list[Member]] = {}
    rows = rows_of_bundle(bundle)
    for target, request, decision in decisions:
        if decision.effect is Effect.PERMIT:
            # The one enforcement point, exactly as a query for the same records releases them.
            payload = released(decision, rows, audience_for(ex, request))
            groups.setdefault(payload, []).append(target)
    out: dict[str, bytes] = {}
    for payload, targets in groups.items():
        key, kid = ex.peer_signer
        sealed = seal(payload, ex.org, kid, key, [recipient_of(t) for t in targets])
        out.update((t.org, sealed) for t in targets)
    return out
