"""The consent lifecycle: the custodian's FHIR Consent writes become `consent.grant` / `consent.revoke`.

A Consent stored with status exactly ``active`` is flattened (`policies.terms_from_consent`) and
recorded as a `consent.grant` pinning the SHA-256 of the stored bytes; a later write with any other
status, or whose provision no longer yields terms the ledger can carry, records `consent.revoke`
(fail closed: only ``active`` may permit; ingest refuses unknown codes). Every gateway then
enforces it from its own ledger state as soon as it has the block. The write waits until this node
has committed the entry, so the client's next request already sees it here. Every Consent version
written is first put in the custodian's evidence archive (gateway.store.evidence) under the SHA-256
the `consent.grant` pins, so `medgate audit replay` at the custodian can load the exact document a
decision used. On the ledger a Consent is named by an opaque id (gateway.identity.pseudonym
.ledger_id), never by its resource id: an EHR chooses those and often embeds an MRN or a name.

Limits (logged, not failed: the custodian still enforces the full Consent it holds): terms the
ledger cannot carry (no grantee, no purpose, an opt-out, a grantee that is not a member) are not
recorded on the ledger (they are archived, so only the custodian can replay decisions that used
them, and replay says so), and a change to the terms of an already recorded active Consent is not
re-recorded (revoke it and create a new one). The patient is named by the first identifier of the
Patient the Consent references.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import orjson

from gateway.errors import GatewayError, UnavailableError
from gateway.fhir.search import patient_id
from gateway.identity.pseudonym import ledger_id, patient_ref
from gateway.services.ledger import LedgerService
from gateway.store.evidence import EvidenceArchive
from gateway.store.fhir_store import FhirStore, StoredResource
from ledger.errors import LedgerError
from ledger.state import consent, member
from policies import Effect, FactsError, terms_from_consent, terms_to_body

ACTIVE = "active"
COMMIT_TIMEOUT_S = 30.0
ANY_TYPE = "*"
_log = logging.getLogger(__name__)


def grant_body(
    consent_doc: dict[str, Any], ref: str, stored: bytes, ledger_consent_id: str
) -> dict[str, Any] | None:
    """The `consent.grant` body of an active Consent, named ``ledger_consent_id`` on the ledger,
    or None when the ledger cannot carry it. Logs name the ledger id only (never the local id,
    nor a value of the document: either may be PHI)."""
    try:
        terms = terms_from_consent(
            consent_doc, patient_ref=ref, consent_digest=hashlib.sha256(stored).hexdigest()
        )
    except FactsError as exc:
        _log.warning("consent %s not recorded: malformed at %s", ledger_consent_id, exc.path)
        return None
    body = terms_to_body(terms)
    if body["grantee"] is None or not body["purposes"] or terms.effect is Effect.DENY:
        _log.warning(
            "consent %s: terms the ledger cannot carry; enforced locally", ledger_consent_id
        )
        return None
    period = {k: v for k, v in body["period"].items() if v is not None}
    return {
        "consent_id": ledger_consent_id,
        "patient_ref": body["patient_ref"],
        "grantee": body["grantee"],
        "purposes": body["purposes"],
        "resource_types": body["resource_types"] or [ANY_TYPE],
        "period": period,
        "consent_digest": body["consent_digest"],
    }


class ConsentSync:
    """The FHIR store's write hook for Consents. Runs in the writer's worker thread and hands the
    ledger write to the event loop ``loop``, waiting for its commit."""

    def __init__(
        self,
        ledger: LedgerService,
        store: FhirStore,
        patient_key: bytes,
        loop: asyncio.AbstractEventLoop,
        clock_ms: Callable[[], int],
        archive: EvidenceArchive | None = None,
    ) -> None:
        self._ledger = ledger
        self._clock = clock_ms
        self._archive = archive if archive is not None else EvidenceArchive(store.engine)
        self._store = store
        self._key = patient_key
        self._loop = loop

    def ledger_id(self, local_id: str) -> str:
        """The opaque id the ledger knows this custodian's Consent ``local_id`` by."""
        return ledger_id(self._key, self._ledger.org, "Consent", local_id)

    def on_write(self, stored: StoredResource, _: StoredResource | None) -> None:
        if stored.type != "Consent":
            return
        doc = orjson.loads(stored.body)
        on_ledger = self.ledger_id(stored.id)
        recorded = consent(self._ledger.store, on_ledger)
        ref = self._patient_ref(doc)
        # Archive before recording: once the ledger pins the digest, the document must exist.
        self._archive.put(stored.body, on_ledger, ref, self._clock())
        # Fail closed: only an exactly "active" Consent whose terms the ledger can carry stays
        # granted. Any other status (draft, proposed, rejected, ...) or a provision the terms
        # cannot be read from revokes what an earlier version granted.
        body = None
        if doc.get("status") == ACTIVE and ref is not None:
            body = grant_body(doc, ref, stored.body, on_ledger)
        if body is not None and not self._grantee_known(body["grantee"]):
            _log.warning("consent %s: the grantee is not a member; enforced locally", on_ledger)
            body = None
        if body is not None and recorded is None:
            self._record("consent.grant", body)
        elif body is None and recorded is not None and recorded.status == ACTIVE:
            self._record("consent.revoke", {"consent_id": on_ledger})

    def _grantee_known(self, grantee: dict[str, str]) -> bool:
        """A grantee org must be a member: an org id is the one EHR-written string a grant carries
        to the ledger verbatim, so only the consortium's own names may pass (roles are checked
        against the ledger's closed set by its validation)."""
        org = grantee.get("org")
        return org is None or member(self._ledger.store, org) is not None

    def _patient_ref(self, doc: dict[str, Any]) -> str | None:
        reference = (doc.get("patient") or {}).get("reference")
        if not isinstance(reference, str):
            return None
        try:
            patient = self._store.read("Patient", patient_id(reference))
        except GatewayError:  # not a Patient reference, or the store is down: nothing to record
            return None
        identifiers = [] if patient is None else orjson.loads(patient.body).get("identifier") or []
        first = identifiers[0] if identifiers else {}
        system, value = first.get("system"), first.get("value")
        if not (isinstance(system, str) and isinstance(value, str)):
            return None
        return patient_ref(self._key, system, value)

    def _record(self, type_: str, body: dict[str, Any]) -> None:
        coro = self._ledger.record_committed(type_, body, timeout=COMMIT_TIMEOUT_S)
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            entry = future.result(timeout=COMMIT_TIMEOUT_S + 5)
        except (LedgerError, TimeoutError) as exc:
            raise UnavailableError(
                "the consent is stored but the ledger did not record it"
            ) from exc
        # Every replica of this member decides only once its own ledger holds this entry.
        self._store.raise_fence(entry.index + 1)
        if entry.code != 0:
            _log.warning(
                "%s of %s refused by the ledger (code %d)", type_, body["consent_id"], entry.code
            )
