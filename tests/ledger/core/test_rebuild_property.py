"""Property: applying a random log block by block (as a node does) equals rebuilding it in one go.

Entries are random mixes of valid and invalid ones (wrong keys, rotated keys, missing quorum, replays,
garbage). The block split changes which keys phase 1 knows, so this also checks that a signature
checked in phase 1 and one checked inline in phase 2 give the same codes and the same state.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.entries import make_tx, nonce_from_bytes, sign_entry
from ledger.genesis import build_genesis, member_record, signing_key_record
from ledger.ids import OrgId
from ledger.signing import generate_signing_key, kid_of
from ledger.state.membership import key_resolver
from ledger.statekv import MemoryState, Overlay
from ledger.validation.apply import validate_block
from ledger.validation.codes import ValidationCode as C
from tests.ledger.core.world import access_body, consent_body, digest, grant_body, pref

ORGS = [OrgId("hospital-a"), OrgId("insurer-b"), OrgId("agency-c"), OrgId("hospital-d")]
ROLES = ["hospital", "insurer", "agency", "hospital"]
FOUNDERS = 3


@cache
def keys() -> dict[OrgId, list[ec.EllipticCurvePrivateKey]]:
    """Three keys per org, made once: key 0 is the one it starts with, 1 and 2 rotate in."""
    return {org: [generate_signing_key() for _ in range(3)] for org in ORGS}


def _record(i: int) -> dict[str, Any]:
    org = ORGS[i]
    return member_record(org, ROLES[i], org, f"https://{org}.test", [keys()[org][0].public_key()])


def _key_entry(org: OrgId, k: int) -> dict[str, str]:
    return signing_key_record(keys()[org][k].public_key())


org_i = st.integers(0, 3)
ident = st.sampled_from(["a", "b", "c"])
endorsers = st.lists(org_i, max_size=4)
ops = st.one_of(
    st.tuples(st.just("consent"), org_i, ident, st.integers(0, 1)),
    st.tuples(st.just("consent.revoke"), org_i, ident),
    st.tuples(st.just("grant"), org_i, ident, org_i),
    st.tuples(st.just("grant.revoke"), org_i, ident),
    st.tuples(st.just("access"), org_i, st.lists(ident, max_size=2, unique=True)),
    st.tuples(st.just("erase"), org_i, ident),
    st.tuples(st.just("add"), endorsers),
    st.tuples(st.just("rotate"), org_i, st.integers(1, 2), st.integers(0, 2), endorsers),
    st.tuples(st.just("remove"), org_i, endorsers),
    st.tuples(st.just("policy"), ident, endorsers),
    st.tuples(st.just("garbage"), st.binary(max_size=8)),
    st.tuples(st.just("replay"), st.integers(0, 40)),
)
step = st.tuples(ops, st.sampled_from([0, 0, 0, 0, 1, 2]), st.booleans())
"""An operation, which of its org's keys signs it, and whether a block is cut after it."""


def _body(op: tuple[Any, ...]) -> tuple[str, int, dict[str, Any], list[int]]:
    kind = op[0]
    if kind == "consent":
        return "consent.grant", op[1], consent_body(op[2], patient_ref=pref(str(op[3]))), []
    if kind in ("consent.revoke", "grant.revoke"):
        field = "consent_id" if kind == "consent.revoke" else "grant_id"
        return kind, op[1], {field: op[2]}, []
    if kind == "grant":
        return "grant.issue", op[1], grant_body(op[2], grantee=ORGS[op[3]]), []
    if kind == "access":
        return "access.record", op[1], access_body(custodian=ORGS[op[1]], basis=op[2]), []
    if kind == "erase":
        return (
            "erasure.record",
            op[1],
            {"record_digest": digest(op[2]), "patient_ref": pref("p"), "reason": "r"},
            [],
        )
    if kind == "add":
        return "member.add", 0, {"member": _record(3)}, op[1]
    if kind == "rotate":
        org = ORGS[op[1]]
        body = {"org": org, "add_signing_key": _key_entry(org, op[2])}
        if op[3] != op[2]:
            body["retire_kid"] = kid_of(keys()[org][op[3]].public_key())
        return "member.update", op[1], body, op[4]
    if kind == "remove":
        return "member.remove", 0, {"org": ORGS[op[1]]}, op[2]
    return "policy.set", 0, {"version": f"v-{op[1]}", "digest": digest(op[1])}, op[2]


def _leaves(steps: list[tuple[tuple[Any, ...], int, bool]]) -> tuple[list[bytes], list[int]]:
    genesis = build_genesis(
        "prop", [_record(i) for i in range(FOUNDERS)], {"rule": "MAJORITY"},
        {"version": "v0", "digest": digest("v0")}, 1, nonce_from_bytes(bytes(16)),
        {org: keys()[org][0] for org in ORGS[:FOUNDERS]},
    )  # fmt: skip
    leaves, cuts = [genesis], [1]
    for n, (op, key_i, cut) in enumerate(steps, start=1):
        if op[0] == "garbage":
            leaves.append(b"\x00" + op[1])
        elif op[0] == "replay":
            leaves.append(leaves[op[1] % len(leaves)])
        else:
            type_, i, body, ends = _body(op)
            key = keys()[ORGS[i]][key_i]
            tx = make_tx(
                type_,
                ORGS[i],
                kid_of(key.public_key()),
                1000 + n,
                nonce_from_bytes(n.to_bytes(16, "big")),
                body,
            )
            leaves.append(sign_entry(tx, key, {ORGS[e]: keys()[ORGS[e]][0] for e in ends}))
        if cut:
            cuts.append(len(leaves))
    return leaves, cuts


def _run(leaves: list[bytes], cuts: list[int]) -> tuple[list[C], dict[tuple[str, str], bytes]]:
    state, codes, start = MemoryState(), [], 0
    for end in [*cuts, len(leaves)]:
        if end <= start:
            continue
        overlay = Overlay(state)
        codes += [
            v.code for v in validate_block(leaves[start:end], start, overlay, key_resolver(state))
        ]
        state.apply(overlay.changes())
        start = end
    return codes, state.rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=25))
def test_block_by_block_equals_rebuild_in_one_go(
    steps: list[tuple[tuple[Any, ...], int, bool]],
) -> None:
    leaves, cuts = _leaves(steps)
    incremental = _run(leaves, cuts)
    one_go = _run(leaves, [])
    one_per_block = _run(leaves, list(range(1, len(leaves))))
    assert incremental == one_go == one_per_block
    assert incremental[0][0] == C.VALID


def test_the_generator_reaches_valid_and_invalid_entries() -> None:
    """Guard against a vacuous property: a fixed run mixes valid entries with several refusals."""
    steps = [
        (("consent", 0, "a", 0), 0, False),
        (("consent", 2, "b", 0), 0, True),  # agency: ROLE_FORBIDDEN
        (("rotate", 0, 1, 0, [1]), 0, False),
        (("erase", 0, "a"), 1, False),  # new key, same block
        (("erase", 0, "b"), 0, True),  # retired key
        (("replay", 1), 0, False),
    ]
    leaves, cuts = _leaves(steps)
    codes, _ = _run(leaves, cuts)
    assert codes == [
        C.VALID,
        C.VALID,
        C.ROLE_FORBIDDEN,
        C.VALID,
        C.VALID,
        C.KEY_RETIRED,
        C.DUPLICATE_TXID,
    ]
    assert _run(leaves, [])[0] == codes
