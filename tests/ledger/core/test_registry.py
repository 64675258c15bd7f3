"""The entry-type registry: every type declared once, with namespaces that exist and are used."""

from __future__ import annotations

from ledger.entries import EntryType
from ledger.state import namespaces as ns
from ledger.validation.registry import REGISTRY
from tests.ledger.core.world import HOSPITAL, access_body, consent_body, grant_body, three_orgs


def test_every_entry_type_is_declared_exactly_once() -> None:
    assert {str(t) for t in EntryType} <= set(REGISTRY)  # names the gateway builds are declared
    assert all(spec.name == name for name, spec in REGISTRY.items())
    assert [n for n, s in REGISTRY.items() if s.rule is None] == [EntryType.GENESIS]
    endorsed = {n for n, s in REGISTRY.items() if s.endorsed}
    assert endorsed == {"consortium.genesis", "member.add", "member.update", "member.remove",
                        "policy.set"}  # fmt: skip


def test_declared_namespaces_cover_the_state_layout() -> None:
    declared = {name for spec in REGISTRY.values() for name in spec.namespaces}
    assert declared <= set(ns.ALL)
    assert set(ns.ALL) - declared == {ns.NONCES}  # written for every valid entry, by apply


def test_rules_write_only_their_declared_namespaces() -> None:
    world, chain = three_orgs()
    written = {name for (name, _) in chain.rows()}
    assert written <= set(REGISTRY["consortium.genesis"].namespaces) | {ns.NONCES}
    for entry_type, body in [
        ("consent.grant", consent_body()),
        ("grant.issue", grant_body()),
        ("access.record", access_body(basis=["c1", "g1"])),
        ("consent.revoke", {"consent_id": "c1"}),
        ("grant.revoke", {"grant_id": "g1"}),
        ("erasure.record", {"record_digest": "e" * 64, "patient_ref": "p" * 43, "reason": "x"}),
    ]:
        before = chain.rows()
        leaf = world.entry(entry_type, HOSPITAL, body)
        assert chain.submit(leaf).name == "VALID", entry_type
        changed = {key[0] for key, value in chain.rows().items() if before.get(key) != value}
        assert changed - {ns.NONCES} <= set(REGISTRY[entry_type].namespaces), entry_type
        assert changed - {ns.NONCES}, entry_type
