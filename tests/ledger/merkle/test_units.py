"""Preconditions, typed errors, range decomposition and the builder's restore path."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import MalformedProofError, MerkleError, RootMismatchError, TreeRangeError
from ledger.ids import NodeId
from ledger.merkle import (
    EMPTY_ROOT,
    CompactTree,
    ProofPlan,
    compact_range_ids,
    consistency_proof_ids,
    inclusion_proof_ids,
    leaf_hash,
    node_hash,
    range_ids,
    root_from_range,
    verify_consistency,
    verify_inclusion,
)

from . import reference as ref
from .support import DictStore, build_store, leaves

LEAVES = leaves(700)
STORE = build_store(LEAVES)


def test_hashes_are_rfc9162_domain_separated() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert leaf_hash(b"abc") == ref.ref_leaf(b"abc")
    left, right = LEAVES[0], LEAVES[1]
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize(("index", "size"), [(0, 0), (3, 3), (-1, 4), (9, 2)])
def test_inclusion_plan_rejects_out_of_range(index: int, size: int) -> None:
    with pytest.raises(TreeRangeError) as err:
        inclusion_proof_ids(index, size)
    assert (err.value.value, err.value.size) == (index, size)


@pytest.mark.parametrize(("size1", "size2"), [(0, 0), (0, 5), (6, 5), (-1, 3)])
def test_consistency_plan_rejects_bad_sizes(size1: int, size2: int) -> None:
    with pytest.raises(TreeRangeError):
        consistency_proof_ids(size1, size2)


def test_consistency_plan_for_equal_sizes_is_empty() -> None:
    assert consistency_proof_ids(5, 5) == ProofPlan((), 0, 0)


def test_ephemeral_node_is_rebuilt_from_full_subtrees() -> None:
    # Leaf 0 of 7 leaves: siblings (0,1), (1,1), then [4, 7) which is not a full subtree, so the
    # plan names its full parts (1,2) and (0,6), lowest first, to be folded into one hash.
    plan = inclusion_proof_ids(0, 7)
    assert plan == ProofPlan((NodeId(0, 1), NodeId(1, 1), NodeId(0, 6), NodeId(1, 2)), 2, 4)
    proof = plan.assemble([STORE[i] for i in plan.ids])
    assert proof[2] == node_hash(STORE[NodeId(1, 2)], STORE[NodeId(0, 6)])
    assert proof == ref.path(0, LEAVES[:7])


def test_assemble_rejects_wrong_count_and_short_hashes() -> None:
    plan = inclusion_proof_ids(0, 7)
    hashes = [STORE[i] for i in plan.ids]
    with pytest.raises(MalformedProofError):
        plan.assemble(hashes[:-1])
    with pytest.raises(MalformedProofError):
        plan.assemble([*hashes[:-1], hashes[-1][:31]])


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 5000), st.integers(0, 5000))
def test_range_ids_tile_the_range_with_full_aligned_subtrees(a: int, b: int) -> None:
    begin, end = min(a, b), max(a, b)
    ids = range_ids(begin, end)
    pos = begin
    for node in ids:  # contiguous, in order, no overlap, ending exactly at `end`
        assert node.index << node.level == pos
        pos += 1 << node.level
    assert pos == end
    assert len(ids) <= 2 * max(1, end - begin).bit_length()


def test_range_ids_rejects_inverted_range() -> None:
    with pytest.raises(TreeRangeError):
        range_ids(5, 4)


def test_compact_range_is_one_subtree_per_set_bit() -> None:
    assert compact_range_ids(13) == [NodeId(3, 0), NodeId(2, 2), NodeId(0, 12)]
    assert compact_range_ids(0) == []
    assert root_from_range([]) == EMPTY_ROOT


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 699), st.integers(0, 100))
def test_builder_restored_from_store_continues_like_a_fresh_one(size: int, more: int) -> None:
    end = min(700, size + more)
    fetched = DictStore(STORE, size).nodes(compact_range_ids(size))
    restored = CompactTree.from_nodes(size, fetched)
    fresh = CompactTree()
    fresh.extend(LEAVES[:size])
    assert (restored.size, restored.root(), restored.border()) == (size, fresh.root(), fetched)
    branch = restored.copy()
    assert restored.extend(LEAVES[size:end]) == fresh.extend(LEAVES[size:end])
    assert (restored.root(), branch.size) == (ref.mth(LEAVES[:end]), size)


def test_builder_rejects_bad_input() -> None:
    with pytest.raises(MalformedProofError):
        CompactTree().append(b"short")
    with pytest.raises(MalformedProofError):
        CompactTree.from_nodes(3, [LEAVES[0]])
    with pytest.raises(MalformedProofError):
        CompactTree.from_nodes(1, [b""])
    with pytest.raises(TreeRangeError):
        CompactTree.from_nodes(-1, [])
    assert CompactTree().root() == EMPTY_ROOT


def test_verify_inclusion_errors_are_typed() -> None:
    proof = ref.path(2, LEAVES[:5])
    root = ref.mth(LEAVES[:5])
    with pytest.raises(MalformedProofError):
        verify_inclusion(LEAVES[2], 2, 5, proof[:-1], root)
    with pytest.raises(MalformedProofError):
        verify_inclusion(LEAVES[2][:31], 2, 5, proof, root)
    with pytest.raises(MalformedProofError):
        verify_inclusion(LEAVES[2], 2, 5, [proof[0][:31], *proof[1:]], root)
    with pytest.raises(TreeRangeError):
        verify_inclusion(LEAVES[2], 5, 5, proof, root)
    with pytest.raises(RootMismatchError) as err:
        verify_inclusion(LEAVES[3], 2, 5, proof, root)
    assert err.value.expected == root
    assert err.value.calculated != root


def test_verify_consistency_refuses_empty_old_tree_and_extra_nodes() -> None:
    root = ref.mth(LEAVES[:4])
    with pytest.raises(TreeRangeError):
        verify_consistency(0, 4, [], EMPTY_ROOT, root)
    with pytest.raises(MalformedProofError):
        verify_consistency(4, 4, [root], root, root)
    with pytest.raises(MalformedProofError):
        verify_consistency(3, 4, [], ref.mth(LEAVES[:3]), root)
    proof = ref.consistency(3, LEAVES[:4])
    with pytest.raises(MerkleError):
        verify_consistency(3, 4, [*proof, LEAVES[0]], ref.mth(LEAVES[:3]), root)


def test_package_imports_no_io_or_framework() -> None:
    """Pure core (ARCHITECTURE.md 1.5): importing it pulls in no storage, async or web library."""
    banned = ("sqlalchemy", "sqlmodel", "asyncio", "fastapi", "httpx", "aiohttp", "nats")
    code = (
        "import sys, ledger.merkle\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {banned!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
