"""Governance proposals inside a gateway: propose, endorse with this member's own key, submit at quorum.

Every gateway follows the consortium's proposal stream (ledger.proposals) into the same book, so
every member sees every proposal. An operator's request reaches only its own gateway, which signs
with only its own signing key: no member ever holds another's private key. Once the signers counted
against this member's committed ledger state meet the quorum rule, the gateway that completed it
assembles the entry (the proposer's signature and every counted endorsement) and submits it; the
proposer's gateway does the same when it sees the quorum met on the stream (should the endorser's
gateway have stopped in between). The ordering service and the ledger dedup by tx id, so several
submissions of one proposal order it once.

Refusals (typed gateway errors, OperationOutcome at the edge): an unknown proposal 404; a wrong
digest, a second endorsement by the same member, the proposer endorsing itself, a proposal whose
quorum is met already, or a proposal already on the ledger 409; an expired proposal 410; a gateway whose member is not (or no longer)
an active member 403; a body the ledger would refuse, a change to a member that does not exist,
or a change after which the quorum rule could never be met, 422; adding a member twice or
changing a removed one 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.errors import (
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidResourceError,
    NotFoundError,
    UnavailableError,
)
from gateway.services.ledger import LedgerService
from ledger.canonical import canonical
from ledger.entries import EntryType, endorse, make_tx, nonce_from_bytes
from ledger.errors import EntryError
from ledger.ids import OrgId, TxId
from ledger.ordering.base import Ordering
from ledger.proposals import (
    GOVERNANCE_TYPES,
    Book,
    Proposal,
    Tally,
    encode_endorsement,
    encode_proposal,
    signature_counts,
    tally,
    unreachable,
)
from ledger.signing import kid_of, sign
from ledger.state import membership as mem
from ledger.state import quorum
from ledger.statekv import StateReader
from ledger.storage.base import StoredEntry
from ledger.validation.codes import ValidationCode
from ledger.validation.registry import spec_of

log = logging.getLogger("medgate.gateway.proposals")

MINUTE_MS = 60_000
DEFAULT_TTL_MS = 72 * 60 * MINUTE_MS
MAX_TTL_MS = 30 * 24 * 60 * MINUTE_MS
CATCH_UP_S = 15.0
COMMIT_S = 30.0


class ProposalService:
    """Owns the proposal stream's follower and this member's proposing and endorsing."""

    def __init__(
        self,
        ledger: LedgerService,
        signing_key: ec.EllipticCurvePrivateKey,
        stream: Ordering,
        clock_ms: Callable[[], int],
    ) -> None:
        self.org = ledger.org
        self._ledger = ledger
        self._key = signing_key
        self._kid = kid_of(signing_key.public_key())
        ledger.on_rekey(self._rekey)  # a rotated signing key endorses from its commit on
        self._stream = stream
        self._clock_ms = clock_ms
        self.book = Book()
        self._advanced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _rekey(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key, self._kid = key, kid_of(key.public_key())

    @property
    def failure(self) -> BaseException | None:
        task = self._task
        if task is not None and task.done() and not task.cancelled():
            return task.exception()
        return None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="proposals")
        self._task.add_done_callback(_report_stop)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def close(self) -> None:
        await self._stream.close()

    async def _follow(self) -> None:
        async for item in self._stream.read(self.book.position):
            touched = self.book.apply(item.position, item.data)
            self._advanced.set()
            if touched is not None and touched.proposer == self.org:
                try:
                    await self._submit_if_met(touched)
                except Exception:  # a retry is the next message's or an endorser's job
                    log.exception("submitting proposal %s failed", touched.id)

    async def _caught_up(self, position: int) -> None:
        """Until the follower folded ``position`` in (bounded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CATCH_UP_S
        while self.book.position < position:
            self._advanced.clear()
            remaining = deadline - loop.time()
            if remaining <= 0 or self.failure is not None:
                raise UnavailableError("the proposal stream is not being followed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._advanced.wait(), remaining)

    # -- reading -------------------------------------------------------------------------------

    async def describe_all(self) -> list[dict[str, Any]]:
        return [await self.describe(p) for p in list(self.book.proposals.values())]

    async def describe_one(self, proposal_id: str) -> dict[str, Any]:
        return await self.describe(await self._get_fresh(proposal_id))

    async def describe(self, p: Proposal) -> dict[str, Any]:
        def read() -> tuple[Tally, StoredEntry | None, dict[str, Any] | None]:
            rule = quorum(self._ledger.store)
            return (*self._judge(p), None if rule is None else rule.to_json())

        counted, entry, rule = await asyncio.to_thread(read)
        return proposal_json(p, counted, entry, self._clock_ms(), rule)

    def _judge(self, p: Proposal) -> tuple[Tally, StoredEntry | None]:
        store = self._ledger.store
        return tally(store, p), store.entry_by_tx(p.digest)

    async def _get_fresh(self, proposal_id: str) -> Proposal:
        """The proposal; when this follower has not seen it, once caught up with the stream's
        last position (a proposal made at another gateway a moment ago is not a 404)."""
        found = self.book.get(proposal_id)
        if found is None:
            await self._caught_up(await self._stream.last_position())
            found = self.book.get(proposal_id)
        if found is None:
            raise NotFoundError("no such proposal")
        return found

    # -- proposing -----------------------------------------------------------------------------

    async def propose(
        self, type_: str, body: Mapping[str, Any], ttl_ms: int | None = None
    ) -> dict[str, Any]:
        """Sign ``type_``/``body`` as this member and publish it as a proposal; its description."""
        if type_ not in GOVERNANCE_TYPES:
            raise InvalidResourceError(f"{type_} is not a governance entry type")
        ttl = DEFAULT_TTL_MS if ttl_ms is None else ttl_ms
        if not 1000 <= ttl <= MAX_TTL_MS:
            raise InvalidResourceError("ttl must be between 1 second and 30 days")
        spec = spec_of(type_)
        assert spec is not None  # noqa: S101 - every governance type is registered
        try:
            spec.body.judge(body)
        except EntryError as exc:
            raise InvalidResourceError(f"the ledger would refuse this {type_}: {exc}") from exc
        await asyncio.to_thread(self._check_proposable, type_, body)
        now = self._clock_ms()
        nonce = nonce_from_bytes(secrets.token_bytes(16))
        tx = make_tx(type_, self.org, self._kid, now, nonce, body)
        sig = sign(self._key, canonical(tx))
        raw = encode_proposal(tx, sig, now + ttl)
        position = await self._stream.submit(raw, f"proposal:{nonce}")
        await self._caught_up(position)
        found = next((p for p in self.book.proposals.values() if p.position == position), None)
        if found is None:  # another proposal took its id first: astronomically rare
            raise ConflictError("the proposal's id is taken; propose again")
        await self._submit_if_met(found)
        return await self.describe(found)

    def _check_proposable(self, type_: str, body: Mapping[str, Any]) -> None:
        store = self._ledger.store
        self._check_member(store)
        _check_target(store, type_, body)
        problem = unreachable(store, type_, body)
        if problem is not None:
            raise InvalidResourceError(problem)

    def _check_member(self, store: StateReader) -> None:
        found = mem.member(store, self.org)
        if found is None:
            raise ForbiddenError(f"{self.org} is not a member of the consortium")
        if not found.is_active:
            raise ForbiddenError(f"{self.org} has been removed from the consortium")
        if self._kid not in found.active_kids():
            raise ForbiddenError(f"this gateway's signing key is not an active key of {self.org}")

    # -- endorsing -----------------------------------------------------------------------------

    async def endorse(self, proposal_id: str, digest: str | None) -> dict[str, Any]:
        """Endorse with this member's own key; at quorum, submit and wait for the commit."""
        p = await self._get_fresh(proposal_id)
        if digest is not None and digest != p.digest:
            raise ConflictError(f"proposal {p.id} has digest {p.digest}, not the one endorsed")
        await asyncio.to_thread(self._check_endorsable, p)
        if p.expired(self._clock_ms()):
            raise GoneError(f"proposal {p.id} expired")
        e = endorse(p.tx, self.org, self._key)
        position = await self._stream.submit(
            encode_endorsement(p.digest, e), f"endorse:{p.digest}:{self.org}:{e.kid}"
        )
        await self._caught_up(position)
        await self._submit_if_met(p, wait=True)
        return await self.describe(p)

    def _check_endorsable(self, p: Proposal) -> None:
        store = self._ledger.store
        entry = store.entry_by_tx(p.digest)
        if entry is not None:
            raise ConflictError(f"proposal {p.id} is already on the ledger (block {entry.height})")
        self._check_member(store)
        if p.proposer == self.org:
            raise ConflictError(f"{self.org} proposed {p.id}: its signature already counts")
        message = p.message
        for e in p.endorsements:
            if e.org == self.org and signature_counts(store, e.org, e.kid, message, e.sig):
                raise ConflictError(f"{self.org} has already endorsed proposal {p.id}")
        if tally(store, p).met:  # one more signature adds nothing: it is being committed
            raise ConflictError(f"proposal {p.id} already has its quorum; it is being committed")

    async def _submit_if_met(self, p: Proposal, *, wait: bool = False) -> StoredEntry | None:
        """Submit ``p``'s entry when its quorum is met, not expired and not on the ledger yet."""
        counted, entry = await asyncio.to_thread(self._judge, p)
        if entry is not None or not counted.met or p.expired(self._clock_ms()):
            return entry
        leaf = p.leaf(counted.counted)
        await self._ledger.submit_leaf(leaf, p.digest)
        log.info("proposal %s met its quorum: submitted (tx %s)", p.id, p.digest[:16])
        if not wait:
            return None
        return await self._ledger.committer.wait_committed(TxId(p.digest), COMMIT_S)


def _report_stop(task: asyncio.Task[None]) -> None:
    """An ERROR line when the follower dies: governance requests answer 503 from then on."""
    if not task.cancelled() and task.exception() is not None:
        log.error("the proposal stream follower stopped: %s", task.exception())


def _check_target(store: StateReader, type_: str, body: Mapping[str, Any]) -> None:
    """The ledger's refusals that state decides now: an org added twice (409), a change to a
    member that does not exist (422) or was removed (409). State may still change before the
    entry is ordered; the ledger judges again then."""
    if type_ == EntryType.MEMBER_ADD:
        org = str(body["member"]["org"])
        if mem.member(store, org) is not None:
            raise ConflictError(f"{org} is a member already (or was, and was removed)")
        return
    if type_ not in (EntryType.MEMBER_UPDATE, EntryType.MEMBER_REMOVE):
        return
    found = mem.member(store, str(body["org"]))
    if found is None:
        raise InvalidResourceError(f"there is no member {body['org']}")
    if not found.is_active:
        raise ConflictError(f"{body['org']} has been removed already")


def status_of(p: Proposal, counted: Tally, entry: StoredEntry | None, now_ms: int) -> str:
    """``committed`` (valid on the ledger), ``refused`` (on the ledger with a validation code),
    ``expired``, ``quorum-met`` (submitted, not yet committed here) or ``open``."""
    if entry is not None:
        return "committed" if entry.code == ValidationCode.VALID else "refused"
    if p.expired(now_ms):
        return "expired"
    return "quorum-met" if counted.met else "open"


def proposal_json(
    p: Proposal,
    counted: Tally,
    entry: StoredEntry | None,
    now_ms: int,
    rule: dict[str, Any] | None,
) -> dict[str, Any]:
    """The wire form of a proposal (GET /governance/proposals)."""
    endorsers = [OrgId(e.org) for e in counted.counted]
    return {
        "id": p.id,
        "digest": p.digest,
        "type": p.type,
        "proposer": p.proposer,
        "proposed_ms": p.tx["ts"],
        "expires_ms": p.expires_ms,
        "status": status_of(p, counted, entry, now_ms),
        "tx": dict(p.tx),
        "endorsed_by": endorsers,
        "quorum": {
            "rule": rule,
            "electorate": counted.electorate,
            "needed": counted.needed,
            "signers": list(counted.signers),
            "met": counted.met,
        },
        "entry": None
        if entry is None
        else {
            "index": entry.index,
            "height": entry.height,
            "code": ValidationCode(entry.code).name,
        },
    }
