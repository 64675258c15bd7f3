"""Test helpers: deterministic leaves and a dict "store" that counts and bounds its reads."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from ledger.ids import NodeId
from ledger.merkle import CompactTree, leaf_hash


def leaves(n: int) -> list[bytes]:
    """n distinct leaf hashes (distinct leaves make a swapped or misplaced hash detectable)."""
    return [leaf_hash(hashlib.sha256(i.to_bytes(4, "big")).digest()) for i in range(n)]


@dataclass
class DictStore:
    """Full-subtree nodes of a tree, served as ``Store.nodes`` would, as of a given tree size.

    Asking for a node that is not full at ``size`` fails: the real store would not have it yet.
    """

    nodes_by_id: dict[NodeId, bytes]
    size: int
    calls: list[tuple[NodeId, ...]] = field(default_factory=list)

    def nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        self.calls.append(tuple(ids))
        for node in ids:
            assert (node.index + 1) << node.level <= self.size, f"{node} not full at {self.size}"
        return [self.nodes_by_id[node] for node in ids]


def build_store(hashes: Sequence[bytes]) -> dict[NodeId, bytes]:
    """The nodes a node commits while appending ``hashes`` one by one."""
    tree = CompactTree()
    return dict(tree.extend(hashes))
