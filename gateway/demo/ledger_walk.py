"""The ledger part of the demo: a governance entry without a quorum, consents, a refused entry,
verification. Each member's node signs only with that member's own key; governance by quorum is
shown later on the running gateways (gateway.demo.governance_walk), endorsed through each
member's own gateway.

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
from gateway.identity.pseudonym import patient_ref
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
    ) -> None:
        entry = await self.nodes[org].ledger.record_committed(type_, body)
        code = ValidationCode(entry.code)
        mark = "ok " if code is expect else "!! "
        say(
            f"  {mark}{what}\n      {type_} by {org} -> log index {entry.index}, block "
            f"{entry.height}, {code.name} (tx {entry.tx_id[:16]})"
        )
        if code is not expect:
            self.failures.append(f"{what}: expected {expect.name}, got {code.name}")


async def run_ledger_walk(root: Path, members: list[MemberSpec] | None = None) -> bool:
    """Walk the ledger on the consortium in ``root`` (created here when ``members`` is None)."""
    if members is None:
        members = MEMBERS
        say(f"1. medgate init: a consortium of {len(members)} members in {root}")
        created = create_consortium(root, "medgate demo consortium", members)
        say(f"   consortium id {created.consortium_id[:16]}..., genesis signed by every founder")
    nodes = {m.org: open_member(root, m.org, m.role) for m in members}
    for node in nodes.values():
        await node.ledger.start()
    try:
        walk = Walk(root, nodes)
        hospital = next(m.org for m in members if m.role == "hospital")
        insurer = next(m.org for m in members if m.role == "insurer")
        ref = patient_ref(patient_key(root, hospital), "urn:demo:ledger-walk", "LW-0001")
        say(f"   every member runs its own ledger node; a test patient is pseudonym {ref[:12]}...")
        await _walk(walk, ref, hospital, insurer)
        return await _check(walk, list(nodes.values()))
    finally:
        for node in nodes.values():
            await node.ledger.stop()


async def _walk(walk: Walk, ref: str, hospital: str, insurer: str) -> None:
    moved = {"org": hospital, "endpoint": "https://gateway.hospital.example"}
    step = walk.step
    await step(
        "governance signed by one member alone is refused (and kept in the log); step 3b "
        "shows a quorum endorsing through its gateways",
        hospital,
        "member.update",
        moved,
        ValidationCode.QUORUM_NOT_MET,
    )
    consent = {
        "consent_id": "ledger-walk-consent",
        "patient_ref": ref,
        "grantee": {"org": insurer},
        "purposes": ["HPAYMT"],
        "resource_types": ["Claim", "ExplanationOfBenefit", "Coverage"],
        "period": {},
        "consent_digest": hashlib.sha256(b"ledger walk consent").hexdigest(),
    }
    await step(
        "a consent is recorded by its custodian",
        hospital,
        "consent.grant",
        consent,
        ValidationCode.VALID,
    )
    await step(
        "a release is recorded",
        hospital,
        "access.record",
        access_body(insurer, hospital, ref, 1),
        ValidationCode.VALID,
    )
    revoke = {"consent_id": "ledger-walk-consent"}
    await step(
        "a member may not revoke a consent it does not hold",
        insurer,
        "consent.revoke",
        revoke,
        ValidationCode.NOT_OWNER,
    )
    await step("the custodian revokes it", hospital, "consent.revoke", revoke, ValidationCode.VALID)


async def _check(walk: Walk, nodes: list[MemberNode]) -> bool:
    size = max(node.ledger.committer.head.tree_size for node in nodes)
    await wait_until_height(nodes, size)
    heads = {str(node.org): node.ledger.committer.head for node in nodes}
    say(
        f"   every member's node holds {size} entries in {max(h.height for h in heads.values()) + 1} blocks"
    )
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
    say("   every step behaved as expected; every member's ledger verifies from genesis")
    return True


def _store(nodes: list[MemberNode], org: str) -> SqlStore:
    store = next(node.ledger.store for node in nodes if node.org == org)
    assert isinstance(store, SqlStore)  # noqa: S101 - open_member builds SqlStores
    return store
