"""Governance proposals on their own ordered stream: the messages, the book they fold into, the tally.

A proposal is a governance transaction (member.add, member.update, member.remove, policy.set)
signed by its proposer as the future submitter, and not ordered on the ledger yet. Endorsements are
other members' ES256 signatures over the same ``canonical(tx)``. Both travel on a third ordered
stream beside the ledger and checkpoint streams (solo: ``proposals.db``; nats: ``<id>-proposals``),
never as log entries: a proposal that never reaches its quorum leaves no trace on the ledger, and
every member reads the same proposals in the same order. Messages are canonical JSON::

    {"proposal": {"tx": TX, "sig": SIG, "expires": MS}}
    {"endorsement": {"digest": HEX64, "org": ORG, "kid": KID, "sig": SIG}}

The proposal's digest is its tx id (SHA-256 of ``canonical(tx)``): what is endorsed, what the
ledger dedups by. Its id is the digest's first 16 hex digits; a later proposal with a taken id is
ignored (the first one in stream order stands). Nothing on the stream is trusted: the tally counts
only signatures that verify under an active key of an active member in the given ledger state, so
a forged endorsement can neither count nor make the assembled entry invalid (BAD_ENDORSEMENT).

Expiry (``expires``, epoch ms) is judged by gateways on their clocks, never by the ledger (whose
validation has no clock): no endorsement is signed and no entry submitted after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.canonical import canonical, parse_canonical
from ledger.entries import (
    KID_RE,
    ORG_RE,
    Endorsement,
    EntryType,
    decode_entry,
    encode_entry,
    tx_id_of,
)
from ledger.errors import EncodingError, EntryError, KeyFormatError
from ledger.ids import Kid, OrgId, TxId
from ledger.signing import load_public_key_b64, verify
from ledger.state import governance as gov
from ledger.state import membership as mem
from ledger.statekv import StateReader

GOVERNANCE_TYPES = frozenset(
    {
        EntryType.MEMBER_ADD,
        EntryType.MEMBER_UPDATE,
        EntryType.MEMBER_REMOVE,
        EntryType.POLICY_SET,
    }
)
ID_LENGTH = 16
MAX_MESSAGE_BYTES = 64 * 1024


@dataclass(slots=True)
class Proposal:
    """One proposal and every endorsement message seen for it, in stream order."""

    tx: Mapping[str, Any]
    sig: str
    expires_ms: int
    position: int
    digest: TxId
    endorsements: list[Endorsement] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.digest[:ID_LENGTH]

    @property
    def type(self) -> str:
        return str(self.tx["type"])

    @property
    def proposer(self) -> OrgId:
        return OrgId(self.tx["org"])

    @property
    def message(self) -> bytes:
        return canonical(self.tx)

    def expired(self, now_ms: int) -> bool:
        return now_ms >= self.expires_ms

    def leaf(self, endorsements: tuple[Endorsement, ...]) -> bytes:
        """The ledger entry: the proposer's signature and the given (counted) endorsements."""
        return encode_entry(self.tx, self.sig, endorsements)


@dataclass(frozen=True, slots=True)
class EndorsementMessage:
    digest: TxId
    endorsement: Endorsement


def encode_proposal(tx: Mapping[str, Any], sig: str, expires_ms: int) -> bytes:
    return canonical({"proposal": {"tx": dict(tx), "sig": sig, "expires": expires_ms}})


def encode_endorsement(digest: TxId, endorsement: Endorsement) -> bytes:
    e = endorsement
    return canonical({"endorsement": {"digest": digest, "org": e.org, "kid": e.kid, "sig": e.sig}})


def decode_message(raw: bytes, position: int) -> Proposal | EndorsementMessage | None:
    """The message at ``position``, or None when it is not one (ignored by every reader alike)."""
    if len(raw) > MAX_MESSAGE_BYTES:
        return None
    try:
        value = parse_canonical(raw)
    except (EncodingError, RecursionError):
        return None
    if not isinstance(value, dict) or len(value) != 1:
        return None
    if isinstance(value.get("proposal"), dict):
        return _proposal(value["proposal"], position)
    if isinstance(value.get("endorsement"), dict):
        return _endorsement(value["endorsement"])
    return None


def _proposal(value: dict[str, Any], position: int) -> Proposal | None:
    if set(value) != {"tx", "sig", "expires"}:
        return None
    tx, sig, expires = value["tx"], value["sig"], value["expires"]
    if not isinstance(sig, str) or not isinstance(expires, int) or isinstance(expires, bool):
        return None
    if not isinstance(tx, dict) or tx.get("type") not in GOVERNANCE_TYPES:
        return None
    try:  # the proposal must be a well-formed entry once signed: the ledger's own decoder says
        decode_entry(encode_entry(tx, sig, ()))
    except EntryError:
        return None
    return Proposal(tx, sig, expires, position, tx_id_of(tx))


def _endorsement(value: dict[str, Any]) -> EndorsementMessage | None:
    if set(value) != {"digest", "org", "kid", "sig"}:
        return None
    if not all(isinstance(value[k], str) for k in value):
        return None
    if not ORG_RE.fullmatch(value["org"]) or not KID_RE.fullmatch(value["kid"]):
        return None
    endorsement = Endorsement(OrgId(value["org"]), Kid(value["kid"]), value["sig"])
    return EndorsementMessage(TxId(value["digest"]), endorsement)


@dataclass(slots=True)
class Book:
    """Every proposal of the stream by id, folded in stream order (the same on every member)."""

    proposals: dict[str, Proposal] = field(default_factory=dict)
    position: int = 0

    def apply(self, position: int, raw: bytes) -> Proposal | None:
        """Fold the message at ``position`` in; the proposal it concerns, if any. Requires
        positions in increasing order."""
        self.position = position
        message = decode_message(raw, position)
        if isinstance(message, Proposal):
            if message.id in self.proposals:
                return None
            self.proposals[message.id] = message
            return message
        if isinstance(message, EndorsementMessage):
            found = self.proposals.get(message.digest[:ID_LENGTH])
            if found is None or found.digest != message.digest:
                return None
            found.endorsements.append(message.endorsement)
            return found
        return None

    def get(self, proposal_id: str) -> Proposal | None:
        return self.proposals.get(proposal_id)


@dataclass(frozen=True, slots=True)
class Tally:
    """Who counts toward the quorum in a given ledger state, as ``check_quorum`` will count."""

    signers: tuple[OrgId, ...]
    """The proposer (when it counts) and every counted endorser, in stream order."""
    counted: tuple[Endorsement, ...]
    """The endorsements to put in the entry: each verifies and counts."""
    electorate: int
    needed: int | None
    """None: the rule cannot be met in this state."""

    @property
    def met(self) -> bool:
        return self.needed is not None and len(self.signers) >= self.needed


def excluded(tx: Mapping[str, Any]) -> OrgId | None:
    """The member outside the electorate: the one a member.remove removes."""
    if tx.get("type") == EntryType.MEMBER_REMOVE:
        return OrgId(str(tx["body"].get("org")))
    return None


def signature_counts(reader: StateReader, org: OrgId, kid: str, message: bytes, sig: str) -> bool:
    """True when ``sig`` verifies under ``kid``, an active key of ``org``."""
    key = mem.signing_key(reader, kid)
    if key is None or key.org != org or not key.is_active:
        return False
    try:
        public = load_public_key_b64(key.pub)
    except KeyFormatError:
        return False
    return verify(public, message, sig)


def tally(reader: StateReader, proposal: Proposal) -> Tally:
    """Count ``proposal``'s signers against the members, keys and rule in ``reader``."""
    rule = gov.quorum(reader)
    gone = excluded(proposal.tx)
    electorate = {m.org for m in mem.active_members(reader) if m.org != gone}
    message = proposal.message
    signers: list[OrgId] = []
    proposer = proposal.proposer
    if proposer in electorate and signature_counts(
        reader, proposer, str(proposal.tx["kid"]), message, proposal.sig
    ):
        signers.append(proposer)
    counted: list[Endorsement] = []
    for e in proposal.endorsements:
        if e.org not in electorate or e.org in signers or e.org == proposer:
            continue
        if signature_counts(reader, e.org, e.kid, message, e.sig):
            signers.append(e.org)
            counted.append(e)
    needed = None if rule is None else rule.required(len(electorate))
    return Tally(tuple(signers), tuple(counted), len(electorate), needed)


def unreachable(reader: StateReader, type_: str, body: Mapping[str, Any]) -> str | None:
    """Why the change would leave a quorum rule that can never be met, or None. The ledger refuses
    the same member.remove (QUORUM_UNREACHABLE) and policy.set (BAD_BODY)."""
    active = len(mem.active_members(reader))
    if type_ == EntryType.MEMBER_REMOVE:
        rule = gov.quorum(reader)
        if rule is None or rule.required(active - 1) is None:
            need = "" if rule is None else f" ({_describe(rule)})"
            return f"removing {body.get('org')} would leave {active - 1} members: the quorum rule{need} could never be met"
    if type_ == EntryType.POLICY_SET and isinstance(body.get("quorum"), dict):
        new_rule = gov.quorum_of(dict(body["quorum"]))
        if new_rule.required(active) is None:
            return f"the quorum rule {_describe(new_rule)} could never be met by {active} members"
    return None


def _describe(rule: gov.Quorum) -> str:
    return rule.rule if rule.k is None else f"{rule.rule} k={rule.k}"
