"""docs/patient-proofs.md states what the code does: its worked example is the proof the ledger
builds and verifies, and the portal's storage key is the one history.js uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ledger.merkle import CompactTree, consistency_proof, leaf_hash, verify_consistency
from tests.ledger.merkle.support import DictStore, build_store
from tests.ledger.merkle.test_vectors import REFERENCE_LEAVES

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "patient-proofs.md").read_text(encoding="utf-8")


def root_of(size: int) -> bytes:
    tree = CompactTree()
    tree.extend(leaf_hash(leaf) for leaf in REFERENCE_LEAVES[:size])
    return tree.root()


def test_the_worked_example_is_the_proof_the_ledger_builds_and_it_verifies() -> None:
    section = DOC.split("Worked example", 1)[1]
    example = json.loads(section.split("```json", 1)[1].split("```", 1)[0])
    assert (example["from"], example["to"]) == (6, 8)
    hashes = [bytes.fromhex(h) for h in example["hashes"]]
    store = DictStore(build_store([leaf_hash(leaf) for leaf in REFERENCE_LEAVES]), 8)
    assert consistency_proof(6, 8, store.nodes) == hashes
    older, newer = root_of(6), root_of(8)
    assert f"tree of 6 entries has root\n`{older.hex()}`" in section
    assert f"the tree of 8 entries\n`{newer.hex()}`" in section
    verify_consistency(6, 8, hashes, older, newer)


def test_the_portal_storage_key_is_documented() -> None:
    script = (ROOT / "gateway" / "static" / "history.js").read_text(encoding="utf-8")
    found = re.search(r'const SEEN_PREFIX = "([^"]+)";', script)
    assert found is not None
    assert f"`{found.group(1)}<consortium id>`" in DOC
