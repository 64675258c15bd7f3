"""Hypothesis properties: the fast tree, plans and verifiers against a naive RFC 9162 tree."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import MerkleError, RootMismatchError
from ledger.merkle import (
    CompactTree,
    consistency_proof,
    consistency_proof_ids,
    inclusion_proof,
    inclusion_proof_ids,
    root_at,
    verify_consistency,
    verify_inclusion,
)

from . import reference as ref
from .support import DictStore, build_store, leaves

MAX = 3000
LEAVES = leaves(MAX)
STORE = build_store(LEAVES)
PROPS = settings(max_examples=60, deadline=None)

# Sizes around powers of two are where the ragged right edge changes shape: sample them often.
EDGES = sorted({max(1, min(MAX, (1 << k) + d)) for k in range(12) for d in (-1, 0, 1)})
sizes = st.one_of(st.integers(1, 40), st.sampled_from(EDGES), st.integers(1, MAX))


def _bound(n: int) -> int:
    return 2 * math.ceil(math.log2(n)) + 1 if n > 1 else 1


@st.composite
def index_in_size(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(sizes)
    return draw(st.integers(0, n - 1)), n


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(sizes)
    return draw(st.integers(1, n)), n


@PROPS
@given(st.one_of(st.just(0), sizes))
def test_root_matches_reference(n: int) -> None:
    store = DictStore(STORE, n)
    assert root_at(n, store.nodes) == ref.mth(LEAVES[:n])
    assert len(store.calls) == 1
    assert len(store.calls[0]) == n.bit_count()


@PROPS
@given(index_in_size())
def test_inclusion_matches_reference_and_verifies(case: tuple[int, int]) -> None:
    index, n = case
    store = DictStore(STORE, n)
    proof = inclusion_proof(index, n, store.nodes)
    assert proof == ref.path(index, LEAVES[:n])
    assert [len(ids) <= _bound(n) for ids in store.calls] == [True]
    verify_inclusion(LEAVES[index], index, n, proof, ref.mth(LEAVES[:n]))


@PROPS
@given(two_sizes())
def test_consistency_matches_reference_and_verifies(case: tuple[int, int]) -> None:
    m, n = case
    store = DictStore(STORE, n)
    proof = consistency_proof(m, n, store.nodes)
    assert proof == ref.consistency(m, LEAVES[:n])
    assert [len(ids) <= _bound(n) for ids in store.calls] == [True]
    verify_consistency(m, n, proof, ref.mth(LEAVES[:m]), ref.mth(LEAVES[:n]))


def test_every_small_tree_exhaustively() -> None:
    """Every index and every pair of sizes up to 64 leaves: no corner left to sampling."""
    for n in range(1, 65):
        store = DictStore(STORE, n)
        root = ref.mth(LEAVES[:n])
        for index in range(n):
            proof = inclusion_proof(index, n, store.nodes)
            assert proof == ref.path(index, LEAVES[:n]), (index, n)
            verify_inclusion(LEAVES[index], index, n, proof, root)
        for m in range(1, n + 1):
            proof = consistency_proof(m, n, store.nodes)
            assert proof == ref.consistency(m, LEAVES[:n]), (m, n)
            verify_consistency(m, n, proof, ref.mth(LEAVES[:m]), root)
        assert max(len(ids) for ids in store.calls) <= _bound(n)


@PROPS
@given(index_in_size(), st.data())
def test_flipped_inclusion_byte_fails(case: tuple[int, int], data: st.DataObject) -> None:
    index, n = case
    proof = ref.path(index, LEAVES[:n])
    root = ref.mth(LEAVES[:n])
    if not proof:  # a one-leaf tree: flip the leaf itself instead
        with pytest.raises(RootMismatchError):
            verify_inclusion(_flip(LEAVES[0], 0), 0, 1, [], root)
        return
    at = data.draw(st.integers(0, len(proof) - 1))
    byte = data.draw(st.integers(0, 31))
    proof[at] = _flip(proof[at], byte)
    with pytest.raises(RootMismatchError) as err:
        verify_inclusion(LEAVES[index], index, n, proof, root)
    assert (err.value.expected, err.value.calculated != root) == (root, True)


@PROPS
@given(index_in_size(), st.data())
def test_wrong_index_fails(case: tuple[int, int], data: st.DataObject) -> None:
    # Only the index is bound by the proof: a root does not commit to its size (leaf 0 of 17
    # leaves verifies as leaf 0 of 18 against the 17-leaf root), which is why a checkpoint signs
    # the size and the root together and callers must take both from it.
    index, n = case
    proof = ref.path(index, LEAVES[:n])
    root = ref.mth(LEAVES[:n])
    other = data.draw(st.integers(0, MAX).filter(lambda i: i != index))
    with pytest.raises(MerkleError):
        verify_inclusion(LEAVES[index], other, n, proof, root)
    if n > 1:  # also a leaf present in the tree, but at another place
        with pytest.raises(MerkleError):
            verify_inclusion(LEAVES[(index + 1) % n], index, n, proof, root)


@PROPS
@given(two_sizes(), st.data())
def test_tampered_consistency_fails(case: tuple[int, int], data: st.DataObject) -> None:
    m, n = case
    proof = ref.consistency(m, LEAVES[:n])
    root1, root2 = ref.mth(LEAVES[:m]), ref.mth(LEAVES[:n])
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        tampered = [*proof]
        tampered[at] = _flip(proof[at], data.draw(st.integers(0, 31)))
        with pytest.raises(RootMismatchError):
            verify_consistency(m, n, tampered, root1, root2)
    with pytest.raises(RootMismatchError):
        verify_consistency(m, n, proof, root1, _flip(root2, 0))
    with pytest.raises(RootMismatchError):
        verify_consistency(m, n, proof, _flip(root1, 0), root2)
    other = data.draw(st.integers(1, n).filter(lambda s: s != m)) if n > 1 else None
    if other is not None:
        with pytest.raises(MerkleError):
            verify_consistency(other, n, proof, root1, root2)


@PROPS
@given(st.lists(st.integers(0, MAX - 1), min_size=1, max_size=6))
def test_plans_name_only_full_nodes_within_bound(points: list[int]) -> None:
    """The plan itself (no store): O(log n) ids, each a full subtree inside the tree."""
    n = max(points) + 1
    for p in points:
        for ids in (inclusion_proof_ids(p, n).ids, consistency_proof_ids(p + 1, n).ids):
            assert len(ids) <= _bound(n)
            assert all((i.index + 1) << i.level <= n for i in ids)


def _flip(value: bytes, at: int) -> bytes:
    out = bytearray(value)
    out[at] ^= 0x01
    return bytes(out)


def test_builder_against_reference() -> None:
    """Appending leaf by leaf emits each full subtree exactly once, with the reference's hash."""
    tree = CompactTree()
    emitted: dict[object, bytes] = {}
    for count, leaf in enumerate(LEAVES[:300], start=1):
        for node, value in tree.append(leaf):
            assert node not in emitted
            emitted[node] = value
        assert tree.root() == ref.mth(LEAVES[:count])
    assert emitted == ref.full_nodes(LEAVES[:300])
