"""The exchange between members, wired for one gateway: keys, ledger views, facts, peer client.

``open_exchange`` builds it when the app starts (the exchange router's lifespan) and hooks it to the
ledger (the cache generations of gateway.services.versions) and to the FHIR store (the patient
index, in each Patient write's transaction; the consent lifecycle); its caches are keyed by state
every replica of the member reads. ``Exchange.close`` releases the peer client at shutdown. The use cases are in
``release`` (the custodian's side) and ``outbound`` (the requester's side).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import partial

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth.peer import MemberDirectory
from gateway.crypto.envelope import Opened, Recipient, open_envelope_with
from gateway.crypto.errors import NotARecipient
from gateway.crypto.keyring import DecryptionRing
from gateway.errors import ForbiddenError, UnavailableError
from gateway.fhir.service import FhirService
from gateway.identity.pseudonym import ledger_id, load_patient_key
from gateway.peers.client import PeerClient
from gateway.services.consent_sync import ConsentSync
from gateway.services.directory import LedgerDirectory
from gateway.services.facts import FactsSource
from gateway.services.ledger import LedgerService
from gateway.services.metrics import Metrics
from gateway.services.patients import PatientIndex
from gateway.services.pseudonyms import release_key
from gateway.services.versions import KeyedCache, Versions, ledger_versions
from gateway.settings import Settings
from ledger.state import Member, member
from ledger.state import namespaces as ns
from ledger.storage.base import BlockWrite
from policies import ConsortiumPolicy, default_policy

CACHE_BUDGET_BYTES = 32 * 1024 * 1024
"""Memory the released-payload cache may hold; a payload over a quarter of it is never kept."""


class PayloadCache:
    """Released payloads (before sealing) by everything that determines them, so a repeated query
    skips the fetch and the obligations. Valid at one FHIR store version (``Versions.last.store``,
    the write counter every replica reads): a write through any replica ends every entry, since
    what a payload contains is read from the FHIR store only (patient index and resources). A
    payload computed at an older version than the cache's is not kept, so none is ever stale."""

    def __init__(self, versions: Versions, budget: int = CACHE_BUDGET_BYTES) -> None:
        self._versions = versions
        self._budget = budget
        self._lock = threading.Lock()  # reads on the event loop and in the pool
        self._at = -1
        self._size = 0
        self._payloads: dict[Hashable, bytes] = {}

    @property
    def generation(self) -> int:
        """The store version a payload about to be computed is computed at."""
        return self._versions.last.store

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            self._move_to(self._versions.last.store)
            return self._payloads.get(key)

    def put(self, key: Hashable, generation: int, payload: bytes) -> None:
        """Keep ``payload`` if it was computed at the cache's current store version."""
        if len(payload) * 4 > self._budget:
            return
        with self._lock:
            self._move_to(self._versions.last.store)
            if generation != self._at:
                return
            if self._size + len(payload) > self._budget:
                self._payloads.clear()  # crude, but a full cache means a broad working set
                self._size = 0
            self._size += len(payload) - len(self._payloads.get(key, b""))
            self._payloads[key] = payload

    def _move_to(self, version: int) -> None:
        if version != self._at:
            self._payloads.clear()
            self._size = 0
            self._at = version


@dataclass(frozen=True, slots=True)
class Exchange:
    """Everything the exchange use cases need of this member. Build with ``open_exchange``."""

    settings: Settings
    decryption: DecryptionRing
    """This member's private encryption keys by kid: current, next and retired ones."""
    patient_key: bytes
    ledger: LedgerService
    fhir: FhirService
    directory: MemberDirectory
    facts: FactsSource
    patients: PatientIndex
    peers: PeerClient
    policy: ConsortiumPolicy
    guard: Callable[[], None]
    """Raises UnavailableError when releases are suspended (``deps.ensure_releasable``)."""
    clock_ms: Callable[[], int]
    versions: Versions
    """The state versions every cache is keyed by; ``refresh`` at the start of each request."""
    released: PayloadCache
    members: KeyedCache[str, Member] = field(default_factory=KeyedCache)
    """Member records at the registry generation (gateway.services.versions)."""
    metrics: Metrics = field(default_factory=Metrics)
    """The app's counters (``medgate_decisions_total`` is counted where decisions are recorded)."""

    @property
    def org(self) -> str:
        return self.settings.org

    @property
    def peer_signer(self) -> tuple[ec.EllipticCurvePrivateKey, str]:
        """The key and kid for peer assertions and envelope signatures (the ledger node's, which
        follows rotations: ``LedgerService.peer_signer``). One read gives a matching pair."""
        return self.ledger.peer_signer

    @property
    def release_key(self) -> bytes:
        """This member's own key for release pseudonyms (``release.release_key``); never shared.
        Derived from the signing key in use: a rotation starts new pseudonyms."""
        return _release_key(self.ledger.signing_key)

    @property
    def encryption_jwk(self) -> dict[str, str]:
        """The private encryption key in force when the gateway started."""
        return self.decryption.current

    def decryption_keys(self) -> list[dict[str, str]]:
        """Every private encryption key held, the one in force first."""
        return self.decryption.held()

    def member(self, org: str) -> Member:
        """An active member of the registry at this node's head; ForbiddenError otherwise."""
        generation = self.versions.registry
        found = self.members.get(generation, org)
        if found is None:
            found = member(self.ledger.store, org)
            if found is not None:
                self.members.put(generation, org, found)
        if found is None or not found.is_active:
            raise ForbiddenError("not an active member of the consortium")
        return found

    async def member_async(self, org: str) -> Member:
        """``member`` without leaving the event loop when the record is cached (the hot path).
        Keyed by the versions the request's ``refresh`` read."""
        if self.members.get(self.versions.registry, org) is not None:
            return self.member(org)
        return await asyncio.to_thread(self.member, org)

    async def close(self) -> None:
        await self.peers.close()


def recipient_of(found: Member) -> Recipient:
    """The member's first registered encryption key. Raises ForbiddenError when it has none."""
    if not found.encryption_keys:
        raise ForbiddenError("the member has no registered encryption key")
    return Recipient(found.org, dict(found.encryption_keys[0].jwk))


def open_mine(ex: Exchange, envelope: bytes) -> Opened:
    """Open an envelope sealed for this member with whichever held key it names (current, next
    or retired); when it names none, look for new key files and try once more when a key was
    added since the first try. Raises the EnvelopeErrors of ``open_envelope``."""
    held = ex.decryption_keys()
    try:
        return open_envelope_with(envelope, ex.org, held, ex.directory.signing_key)
    except NotARecipient:
        ex.decryption.reload()
        now_held = ex.decryption_keys()  # keys are never forgotten: more means a new one
        if len(now_held) == len(held):  # (loaded here, or by a block's reload meanwhile)
            raise
    return open_envelope_with(envelope, ex.org, now_held, ex.directory.signing_key)


def open_exchange(
    settings: Settings,
    ledger: LedgerService | None,
    fhir: FhirService,
    directory: MemberDirectory | None,
    *,
    guard: Callable[[], None],
    clock_ms: Callable[[], int] | None = None,
    metrics: Metrics | None = None,
) -> Exchange | None:
    """The member's exchange, hooked to its ledger and FHIR store; None when the app runs without
    a ledger or member registry (nothing could be recorded or authenticated: no exchange).
    ``clock_ms`` defaults to the ledger node's: one clock for decisions, records and archive.
    Requires a running event loop (the consent lifecycle hands ledger writes to it)."""
    if ledger is None or directory is None:
        return None
    clock_ms = clock_ms if clock_ms is not None else ledger.clock_ms
    patient_key = load_patient_key(settings.keys.patient_key.read_bytes())
    store = fhir.store
    patients = PatientIndex(store, patient_key)
    document = default_policy()
    versions = ledger_versions(ledger, store)
    if isinstance(directory, LedgerDirectory):
        directory.versions = versions
    consent_ids = partial(ledger_id, patient_key, settings.org, "Consent")
    facts = FactsSource(ledger.store, store, patients, document, clock_ms, consent_ids, versions)
    exchange = Exchange(
        settings=settings,
        decryption=DecryptionRing(settings.keys.encryption_key),
        patient_key=patient_key,
        ledger=ledger,
        fhir=fhir,
        directory=directory,
        facts=facts,
        patients=patients,
        peers=PeerClient(allow_plain_http=settings.server.allow_plain_http),
        policy=document,
        guard=guard,
        clock_ms=clock_ms,
        versions=versions,
        released=PayloadCache(versions),
        metrics=metrics if metrics is not None else Metrics(),
    )
    consent_sync = ConsentSync(ledger, store, patient_key, asyncio.get_running_loop(), clock_ms)
    fhir.add_listener(consent_sync.on_write)
    ledger.on_block(partial(_reload_keys_on_update, exchange))
    return exchange


async def _reload_keys_on_update(exchange: Exchange, write: BlockWrite) -> None:
    """A committed change of this member's record (an encryption key rotation): look for new key
    files, so that envelopes sealed to a new key open as soon as peers seal to it."""
    if any(c.ns == ns.MEMBERS and c.key == exchange.org for c in write.changes):
        await asyncio.to_thread(exchange.decryption.reload)


@functools.lru_cache(maxsize=4)
def _release_key(signing: ec.EllipticCurvePrivateKey) -> bytes:
    # HKDF once per signing key (they change only by rotation), not once per release.
    return release_key(signing)


def unavailable() -> UnavailableError:
    return UnavailableError("this gateway takes no part in the exchange (no ledger)")
