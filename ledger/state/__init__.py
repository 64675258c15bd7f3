"""Ledger state derived from the log: namespaces and typed queries over a StateReader.

The queries the gateway and the policies glue use are re-exported here.
"""

from ledger.state.access import AccessRecord, Erasure, access_by_requester, access_for_patient
from ledger.state.consents import Consent, consent, consents_for_patient
from ledger.state.governance import Consortium, Policy, Quorum, consortium, policy, quorum
from ledger.state.grants import Grant, grant, grants_for
from ledger.state.membership import (
    KeyResolver,
    Member,
    SigningKey,
    active_members,
    active_signing_key,
    key_resolver,
    member,
    members,
    signing_key_for_kid,
    signing_key_of,
)

__all__ = [
    "AccessRecord",
    "Consent",
    "Consortium",
    "Erasure",
    "Grant",
    "KeyResolver",
    "Member",
    "Policy",
    "Quorum",
    "SigningKey",
    "access_by_requester",
    "access_for_patient",
    "active_members",
    "active_signing_key",
    "consent",
    "consents_for_patient",
    "consortium",
    "grant",
    "grants_for",
    "key_resolver",
    "member",
    "members",
    "policy",
    "quorum",
    "signing_key_for_kid",
    "signing_key_of",
]
