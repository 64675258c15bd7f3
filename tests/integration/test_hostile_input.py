"""Entries published straight to the stream, bypassing every gateway: each gateway gives each the
same validation code, and none changes state."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.clock import now_ms
from gateway.demo.samples import access_body
from gateway.identity.files import load_private_key
from gateway.identity.pseudonym import load_patient_key, patient_ref
from ledger.entries import decode_entry, is_cut_marker, make_tx, nonce_from_bytes, sign_entry
from ledger.genesis import consortium_id
from ledger.ids import OrgId
from ledger.ordering.nats_stream import MAX_MSG_SIZE, stream_names
from ledger.signing import generate_signing_key, kid_of
from ledger.storage.sql import SqlStore
from ledger.validation.codes import ValidationCode as C
from tests.integration.nodes import MEMBERS
from tests.support.ledger_node import Node
from tests.support.nats_cluster import NatsCluster

pytestmark = [pytest.mark.nats]


def leaf(
    key: ec.EllipticCurvePrivateKey,
    org: str,
    body: Mapping[str, Any],
    nonce: str | None = None,
    entry_type: str = "access.record",
) -> bytes:
    nonce = nonce or nonce_from_bytes(secrets.token_bytes(16))
    tx = make_tx(entry_type, OrgId(org), kid_of(key.public_key()), now_ms(), nonce, body)
    return sign_entry(tx, key)


def hostile_bodies(
    key: ec.EllipticCurvePrivateKey, good: dict[str, Any]
) -> dict[str, tuple[bytes, C]]:
    """Type confusion inside bodies (each of these once stopped every node) and non-canonical
    spellings, signed by a member's real key."""
    member = {"org": "hospital-z", "role": [], "name": "Z", "endpoint": "https://z.test"}
    member |= {"signing_keys": [], "encryption_keys": [], "ca_chain": [], "status": "active"}
    bodies = {
        "decision []": ("access.record", {**good, "decision": []}),
        "decision {}": ("access.record", {**good, "decision": {}}),
        "grantee role []": (
            "consent.grant",
            {"consent_id": "c-x", "patient_ref": good["patient_ref"], "grantee": {"role": []}}
            | {"purposes": ["TREAT"], "resource_types": ["Claim"], "period": {}}
            | {"consent_digest": "0" * 64},
        ),
        "quorum rule []": (
            "policy.set",
            {"version": "v9", "digest": "0" * 64, "quorum": {"rule": []}},
        ),
        "member role []": ("member.add", {"member": member}),
        "endpoint [": ("member.update", {"org": "hospital-a", "endpoint": "http://[::1"}),
    }
    out = {
        name: (leaf(key, "hospital-a", body, entry_type=t), C.BAD_BODY)
        for name, (t, body) in bodies.items()
    }
    spelled = leaf(key, "hospital-a", {**good, "reason": "@@"})
    for name, text in [
        ("float", b"1.5"),
        ("2**53", b"9007199254740992"),
        ("depth 300", b"[" * 300 + b"]" * 300),
    ]:
        out[name] = (spelled.replace(b'"@@"', text), C.MALFORMED)
    out["duplicate key"] = (
        spelled.replace(b'"tx":{"alg":"ES256",', b'"tx":{"alg":"ES256","alg":"ES256",'),
        C.MALFORMED,
    )
    out["escape"] = (spelled.replace(b'"ES256"', b'"\\u0045S256"', 1), C.MALFORMED)
    return out


@pytest.fixture
async def nodes(shared_cluster: NatsCluster, root: Path) -> AsyncIterator[list[Node]]:
    urls = shared_cluster.client_urls
    opened = [await Node.open(root, m.org, urls, cut_after=0.05) for m in MEMBERS]
    try:
        yield opened
    finally:
        for node in opened:
            await node.close()


async def settle(nodes: list[Node], js: Any, stream: str, timeout: float = 30.0) -> None:
    """Bounded wait until every node read the whole stream, holds all it read in durable blocks,
    and agrees on the head."""
    async with asyncio.timeout(timeout):
        while True:
            last = (await js.stream_info(stream)).state.last_seq
            committers = [node.service.committer for node in nodes]
            caught_up = all(c.read_position == last and c.pending == 0 for c in committers)
            if caught_up and len({c.head.hash() for c in committers}) == 1:
                return
            await asyncio.sleep(0.05)


def sql(node: Node) -> SqlStore:
    store = node.service.store
    assert isinstance(store, SqlStore)
    return store


def keys_of(root: Path) -> dict[str, ec.EllipticCurvePrivateKey]:
    return {m.org: load_private_key(root / m.org / "keys" / "signing.key") for m in MEMBERS}


async def test_hostile_entries_get_the_same_code_everywhere_and_change_no_state(
    shared_cluster: NatsCluster, root: Path, nodes: list[Node]
) -> None:
    keys = keys_of(root)
    pkey = load_patient_key((root / "hospital-a" / "keys" / "patient.key").read_bytes())
    p = patient_ref(pkey, "urn:oid:hospital-a:mrn", "MRN-0001")
    hospital = nodes[0].service
    first = await hospital.record_committed(
        "access.record", access_body("insurer-b", "hospital-a", p, 1)
    )
    removed = await hospital.record_committed(
        "member.remove", {"org": "agency-c"}, endorsers={OrgId("insurer-b"): keys["insurer-b"]}
    )
    assert (first.code, removed.code) == (C.VALID, C.VALID)
    names = stream_names(consortium_id((root / "consortium" / "genesis.json").read_bytes()))
    nc = await nats.connect(shared_cluster.client_urls)
    js = nc.jetstream()
    try:
        await settle(nodes, js, names.stream)
        state_before = [sorted(sql(n).iter_state()) for n in nodes]
        size_before = nodes[0].service.committer.head.tree_size

        other = leaf(keys["hospital-a"], "hospital-a", access_body("insurer-b", "hospital-a", p, 2))
        replayed_nonce = decode_entry(first.leaf).nonce
        cases: dict[str, tuple[bytes, C]] = {
            "bad signature": (_tamper(other), C.BAD_SIGNATURE),
            "unknown member": (
                leaf(generate_signing_key(), "mallory", access_body("insurer-b", "mallory", p, 3)),
                C.UNKNOWN_MEMBER,
            ),
            "replayed nonce": (
                leaf(
                    keys["hospital-a"],
                    "hospital-a",
                    access_body("insurer-b", "hospital-a", p, 4),
                    replayed_nonce,
                ),
                C.NONCE_REUSED,
            ),
            "replayed entry": (first.leaf, C.DUPLICATE_TXID),
            "removed member's key": (
                leaf(keys["agency-c"], "agency-c", access_body("insurer-b", "agency-c", p, 5)),
                C.MEMBER_INACTIVE,
            ),
            "malformed json": (b'{"endorsements":[],"sig":"x","tx":{"v":1,', C.MALFORMED),
            "oversized": (
                leaf(keys["hospital-a"], "hospital-a", {"padding": "x" * (100 * 1024)}),
                C.TOO_LARGE,
            ),
            **hostile_bodies(keys["hospital-a"], access_body("insurer-b", "hospital-a", p, 6)),
        }
        assert 64 * 1024 < len(cases["oversized"][0]) < MAX_MSG_SIZE
        for name, (raw, _) in cases.items():
            # No Nats-Msg-Id: nothing dedups a hostile publisher's replay at the stream.
            ack = await js.publish(names.subject, raw, stream=names.stream)
            assert ack.seq > 0, name
        last = (await js.stream_info(names.stream)).state.last_seq
        with pytest.raises(nats.js.errors.APIError, match="maximum"):
            await js.publish(names.subject, b"x" * (MAX_MSG_SIZE + 1), stream=names.stream)
        # Refused at the stream: nothing but the nodes' own cut markers (the hostile entries are
        # pending, so a node may close their block meanwhile) follows the last hostile entry.
        now_last = (await js.stream_info(names.stream)).state.last_seq
        later = [
            (await js.get_msg(names.stream, seq)).data for seq in range(last + 1, now_last + 1)
        ]
        assert all(data is not None and is_cut_marker(data) for data in later)
        await settle(nodes, js, names.stream)
        state_after_hostile = [sorted(sql(n).iter_state()) for n in nodes]
        # Every node kept committing: a valid entry after the hostile ones commits everywhere.
        after = await hospital.record_committed(
            "access.record", access_body("insurer-b", "hospital-a", p, 7)
        )
        assert after.code == C.VALID
        await settle(nodes, js, names.stream)
        for node in nodes:
            assert node.service.committer.failure is None
            assert sql(node).entry_by_tx(after.tx_id) is not None
    finally:
        await nc.close()

    for node in nodes:
        *hostile, last = sql(node).entries(size_before, len(cases) + 2)
        assert len(hostile) == len(cases)  # each one is in the log, in the order published
        assert (last.tx_id, last.code) == (after.tx_id, C.VALID)
        got = {entry.leaf: entry.code for entry in hostile}
        for name, (raw, code) in cases.items():
            assert got[raw] == code, f"{node.service.org}: {name}"
    for after_hostile, before in zip(state_after_hostile, state_before, strict=True):
        assert after_hostile == before
    assert len({node.service.committer.head.hash() for node in nodes}) == 1


def _tamper(raw: bytes) -> bytes:
    """The same entry carrying another transaction's valid-looking signature."""
    marker = b'"sig":"'
    start = raw.index(marker) + len(marker)
    end = raw.index(b'"', start)
    sig = raw[start:end]
    flipped = sig[:10] + (b"A" if sig[10:11] != b"A" else b"B") + sig[11:]
    return raw[:start] + flipped + raw[end:]
