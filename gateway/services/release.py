"""The custodian's side of the exchange: decide, record, then seal and release (or refuse).

Audit before release (ARCHITECTURE.md section 1.2): the `access.record` is ordered, and the
ordering service has acknowledged it, before a byte of the envelope leaves; a denial is recorded
the same way and answered 403. The envelope's digest is in the record, so the patient's log pins
exactly what left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth.peer import PeerIdentity
from gateway.crypto.envelope import envelope_digest, seal
from gateway.errors import ForbiddenError
from gateway.fhir.search import SearchQuery
from gateway.peers.errors import AccessDenied
from gateway.services.access_record import access_body, basis_ids
from gateway.services.exchange import Exchange, recipient_of
from gateway.services.jsonlog import log_decision
from gateway.services.obligations import Audience, Row, released
from gateway.services.pseudonyms import Pseudonym, keyed_pseudonym
from ledger.state import Member
from policies import Decision, Denied, Effect, Obligation, Request, decide

MAX_ROWS_PER_TYPE = 10_000
INLINE_SEAL_BYTES = 256 * 1024
"""A cached payload up to this size is sealed on the event loop (well under a millisecond)."""


@dataclass(frozen=True, slots=True)
class Ask:
    """What a peer asks the custodian for (the body of ``POST /exchange/query``)."""

    patient_ref: str
    resource_types: tuple[str, ...]
    purpose: str
    break_glass: bool = False
    consent_ref: str | None = None
    break_glass_started: int | None = None


@dataclass(frozen=True, slots=True)
class Released:
    envelope: bytes
    access_tx: str
    obligations: tuple[Obligation, ...]


def fetch_rows(ex: Exchange, patient_ref: str, types: Sequence[str]) -> list[Row]:
    """The custodian's stored resources of ``types`` about the patient (stored bytes)."""
    rows: list[Row] = []
    for local_id in ex.patients.local_ids(patient_ref):
        for rtype in types:
            query = SearchQuery(rtype, patient=local_id, count=MAX_ROWS_PER_TYPE)
            rows.extend(Row(r.type, r.id, r.body, r.date) for r in ex.fhir.store.search(query).rows)
    return rows


def pseudonym_for(ex: Exchange, requester: str) -> Pseudonym:
    """Keyed pseudonyms of ids and references, per requester (two agencies cannot link)."""
    return keyed_pseudonym(ex.release_key, requester)


def audience_for(ex: Exchange, request: Request) -> Audience:
    """What the enforcement point needs to release to ``request``'s requester."""
    rule = ex.policy.rule(request.requester_role, request.purpose)
    return Audience(
        base=ex.settings.public_url,
        referenced_types=frozenset() if rule is None else rule.referenced_types,
        pseudonym=pseudonym_for(ex, request.requester_org),
        year=release_year(ex.clock_ms()),
    )


def release_year(now_ms: int) -> int:
    """The UTC calendar year of ``now_ms`` (epoch milliseconds)."""
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC).year


class Custodian:
    """Answers peers' queries and accepts their deliveries."""

    def __init__(self, exchange: Exchange) -> None:
        self._ex = exchange

    async def query(self, peer: PeerIdentity, ask: Ask) -> Released:
        """Raises AccessDenied (recorded), ForbiddenError, UnavailableError (nothing released)."""
        ex = self._ex
        ex.guard()
        if ask.purpose != peer.purpose or ask.consent_ref != peer.consent_ref:
            raise ForbiddenError("the request's purpose or consent differs from its assertion's")
        requester = await ex.member_async(peer.org)
        request = Request(
            requester_org=peer.org,
            requester_role=requester.role,
            custodian=ex.org,
            patient_ref=ask.patient_ref,
            resource_types=ask.resource_types,
            purpose=ask.purpose,
            break_glass=ask.break_glass,
            consent_ref=ask.consent_ref,
            break_glass_started=ask.break_glass_started if ask.break_glass else None,
        )
        facts = ex.facts.cached(ask.patient_ref, peer.org)
        if facts is None:
            facts = await asyncio.to_thread(ex.facts.facts, ask.patient_ref, peer.org)
        now = ex.clock_ms()
        decision = decide(request, facts, now)
        envelope = None
        if decision.effect is Effect.PERMIT:
            envelope = self._sealed_inline(request, decision, requester)
            if envelope is None:
                envelope = await asyncio.to_thread(self._sealed, request, decision, requester)
        access_tx = await self.record(request, decision, envelope, decided_at=now)
        if envelope is None:
            raise AccessDenied(_deny_reasons(decision), access_tx)
        return Released(envelope, access_tx, decision.obligations)

    async def record(
        self,
        request: Request,
        decision: Decision,
        envelope: bytes | None,
        *,
        decided_at: int | None = None,
    ) -> str:
        """Order the access.record; returns its tx_id once the ordering service acknowledged it.
        The entry carries the decision's time as its ``ts``: replay decides at that same moment."""
        basis = basis_ids(
            decision, self._ex.facts.recorded_ids(request.patient_ref, request.requester_org)
        )
        digest = None if envelope is None else envelope_digest(envelope)
        body = access_body(request, decision, basis=basis, envelope_digest=digest)
        recorded = await self._ex.ledger.record("access.record", body, ts=decided_at)
        log_decision(body, recorded.tx_id)
        self._ex.metrics.inc("medgate_decisions_total", {"effect": decision.effect.value})
        return recorded.tx_id

    def _sealed_inline(
        self, request: Request, decision: Decision, requester: Member
    ) -> bytes | None:
        """The envelope of a small cached payload, sealed on the event loop: a thread hop costs
        more than sealing a few kilobytes. None when the payload must be built or is large."""
        ex = self._ex
        payload = ex.released.get(_payload_key(request, decision, ex.clock_ms()))
        if payload is None or len(payload) > INLINE_SEAL_BYTES:
            return None
        return seal(payload, ex.org, *_signer(ex), [recipient_of(requester)])

    def _sealed(self, request: Request, decision: Decision, requester: Member) -> bytes:
        ex = self._ex
        key = _payload_key(request, decision, ex.clock_ms())
        payload = ex.released.get(key)
        if payload is None:
            generation = ex.released.generation
            payload = self._payload(request, decision)
            ex.released.put(key, generation, payload)
        return seal(payload, ex.org, *_signer(ex), [recipient_of(requester)])

    def _payload(self, request: Request, decision: Decision) -> bytes:
        ex = self._ex
        rows = fetch_rows(ex, request.patient_ref, decision.permitted_types)
        return released(decision, rows, audience_for(ex, request))


def _payload_key(request: Request, decision: Decision, now_ms: int) -> tuple[object, ...]:
    """Everything the payload depends on besides the FHIR store (whose writes clear the cache),
    the release year included (de-identification judges ages against it)."""
    return (
        request.patient_ref,
        request.requester_org,
        request.requester_role,
        request.purpose,
        tuple(decision.permitted_types),
        tuple(decision.obligations),
        release_year(now_ms),
    )


def _deny_reasons(decision: Decision) -> tuple[str, ...]:
    causes = tuple(r.code for r in decision.reasons if isinstance(r, Denied))
    return causes or ("deny",)


def _signer(ex: Exchange) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """(kid, key) in ``seal``'s order, from one read of the member's peer signer."""
    key, kid = ex.peer_signer
    return kid, key
