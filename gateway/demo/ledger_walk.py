"""The ledger part of the demo: governance by quorum, consents, a refused entry, verification.

Each step prints what it did and the validation code the ledger gave it; the walk succeeds only if
every code is the expected one, every member's node ends with the same chain, and `ledger verify`
passes on every member's store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.demo.consortium import MemberNode, open_member, patient_key, wait_until_height
from gateway.demo.samples import access_body
from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.identity.files import load_private_key
from gateway.identity.pseudonym import patient_ref
from ledger.ids import OrgId
from ledger.storage.sql import SqlStore
from ledger.validation.codes import ValidationCode
from ledger.verify import verify_store

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("insurer-b", "insurer"),
    MemberSpec("agency-c", "agency"),
]


def say(text: str) -> None:
    print(text, flush=True)


class Walk:
    def __init__(self, root: Path, nodes: dict[str, MemberNode]) -> None:
        self.root = root
        self.nodes = nodes
        self.failures: list[str] = []

    async def step(
        self,
        what: str,
        org: str,
        type_: str,
        body: Mapping[str, Any],
        expect: ValidationCode,
        endorsers: tuple[str, ...] = (),
    ) -> None:
        keys = {
            OrgId(o): load_private_key(self.root / o / "keys" / "signing.key") for o in endorsers
        }
        entry = await self.nodes[org].ledger.record_committed(type_, body, endorsers=keys or None)
        code = ValidationCode(entry.code)
        mark = "ok " if code is expect else "!! "
        say(
            f"  {mark}{what}\n      {type_} by {org} -> log index {entry.index}, block "
            f"{entry.height}, {code.name} (tx {entry.tx_id[:16]})"
        )
        if code is not expect:
            self.failures.append(f"{what}: expected {expect.name}, got {code.name}")


async def run_ledger_walk(root: Path) -> bool:
    say(f"1. medgate init: a consortium of {len(MEMBERS)} members in {root}")
    created = create_consortium(root, "medgate demo consortium", MEMBERS)
    say(f"   consortium id {created.consortium_id[:16]}..., genesis signed by every founder")
    nodes = {m.org: open_member(root, m.org, m.role) for m in MEMBERS}
    for node in nodes.values():
        await node.ledger.start()
    try:
        walk = Walk(root, nodes)
        ref = patient_ref(patient_key(root, "hospital-a"), "urn:oid:hospital-a:mrn", "MRN-0001")
        say(
            f"2. every member runs its own ledger node; patient MRN-0001 is pseudonym {ref[:12]}..."
        )
        await _walk(walk, ref)
        return await _check(walk, list(nodes.values()))
    finally:
        for node in nodes.values():
            await node.ledger.stop()


async def _walk(walk: Walk, ref: str) -> None:
    endpoint = {"org": "hospital-a", "endpoint": "http://127.0.0.1:9401"}
    await walk.step(
        "governance without a quorum is refused (and kept in the log)",
        "hospital-a",
        "member.update",
        endpoint,
        ValidationCode.QUORUM_NOT_MET,
    )
    await walk.step(
        "governance endorsed by a majority (2 of 3) is accepted",
        "hospital-a",
        "member.update",
        endpoint,
        ValidationCode.VALID,
        ("insurer-b",),
    )
    consent = {
        "consent_id": "consent-0001",
        "patient_ref": ref,
        "grantee": {"org": "insurer-b"},
        "purposes": ["HPAYMT"],
        "resource_types": ["Claim", "ExplanationOfBenefit", "Coverage"],
        "period": {},
        "consent_digest": hashlib.sha256(b"demo consent 0001").hexdigest(),
    }
    await walk.step(
        "the patient consents: insurer-b may see claims for payment",
        "hospital-a",
        "consent.grant",
        consent,
        ValidationCode.VALID,
    )
    await walk.step(
        "insurer-b's claims query is released and recorded",
        "hospital-a",
        "access.record",
        access_body("insurer-b", "hospital-a", ref, 1),
        ValidationCode.VALID,
    )
    revoke = {"consent_id": "consent-0001"}
    await walk.step(
        "insurer-b may not revoke a consent it does not hold",
        "insurer-b",
        "consent.revoke",
        revoke,
        ValidationCode.NOT_OWNER,
    )
    await walk.step(
        "the patient revokes the consent at hospital-a",
        "hospital-a",
        "consent.revoke",
        revoke,
        ValidationCode.VALID,
    )


async def _check(walk: Walk, nodes: list[MemberNode]) -> bool:
    size = max(node.ledger.committer.head.tree_size for node in nodes)
    await wait_until_height(nodes, size)
    heads = {str(node.org): node.ledger.committer.head for node in nodes}
    say(f"3. every member's node holds {size} entries in {heads['hospital-a'].height + 1} blocks")
    if len({head.hash() for head in heads.values()}) != 1:
        walk.failures.append("the members' chains differ")
    for org, head in heads.items():
        result = verify_store(_store(nodes, org))
        say(
            f"   {org:<11} head {head.hash()[:16]} root {head.tree_root[:16]}  "
            f"verify: ok ({result.entries} entries, {result.state_rows} state rows)"
        )
    if walk.failures:
        say("the walk FAILED:\n  " + "\n  ".join(walk.failures))
        return False
    say("4. every step behaved as expected; every member's ledger verifies from genesis")
    return True


def _store(nodes: list[MemberNode], org: str) -> SqlStore:
    store = next(node.ledger.store for node in nodes if node.org == org)
    assert isinstance(store, SqlStore)  # noqa: S101 - open_member builds SqlStores
    return store
