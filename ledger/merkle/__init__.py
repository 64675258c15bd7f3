"""RFC 9162 Merkle log: hashing, node-id plans for proofs, pure verification, incremental tree.

Pure: no storage, clock or I/O. A proof is planned (``*_proof_ids``), fetched by the caller
(``Store.nodes``) and assembled (``ProofPlan.assemble``), then verified (``verify_*``).
"""

from ledger.merkle.hashing import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash
from ledger.merkle.proofs import (
    Fetch,
    ProofPlan,
    compact_range_ids,
    consistency_proof,
    consistency_proof_ids,
    inclusion_proof,
    inclusion_proof_ids,
    range_ids,
    root_at,
    root_from_range,
    root_ids,
)
from ledger.merkle.tree import CompactTree
from ledger.merkle.verify import root_from_inclusion, verify_consistency, verify_inclusion

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactTree",
    "Fetch",
    "ProofPlan",
    "compact_range_ids",
    "consistency_proof",
    "consistency_proof_ids",
    "inclusion_proof",
    "inclusion_proof_ids",
    "leaf_hash",
    "node_hash",
    "range_ids",
    "root_at",
    "root_from_inclusion",
    "root_from_range",
    "root_ids",
    "verify_consistency",
    "verify_inclusion",
]
