"""Every RFC 9162 vector of transparency-dev/merkle, positive and negative, read in place."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import MerkleError
from ledger.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

from .support import DictStore, build_store

# The 8-leaf reference tree of RFC 6962's tests, which most vectors are drawn from.
REFERENCE_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _proof(data: dict[str, Any]) -> list[bytes]:
    return [_b64(p) for p in data["proof"] or []]


def _passes(verify: Callable[..., None], *args: Any) -> bool:
    """True when the check passed, False when it raised a MerkleError (anything else propagates)."""
    try:
        verify(*args)
    except MerkleError:
        return False
    return True


def _files(vectors_dir: Path, kind: str) -> list[Path]:
    return sorted((vectors_dir / "merkle-rfc9162" / kind).rglob("*.json"))


def _reference_store(size: int) -> DictStore:
    hashes = [leaf_hash(leaf) for leaf in REFERENCE_LEAVES]
    return DictStore(build_store(hashes[:size]), size)


def test_inclusion_vectors(vectors_dir: Path) -> None:
    files = _files(vectors_dir, "inclusion")
    wrong = []
    for path in files:
        d = _load(path)
        args = (_b64(d["leafHash"]), d["leafIdx"], d["treeSize"], _proof(d), _b64(d["root"]))
        if _passes(verify_inclusion, *args) == d["wantErr"]:
            wrong.append(path.relative_to(vectors_dir))
    assert wrong == []
    kinds = [_load(p)["wantErr"] for p in files]
    assert (len(files), kinds.count(False)) == (98, 6)


def test_consistency_vectors(vectors_dir: Path) -> None:
    files = _files(vectors_dir, "consistency")
    wrong = []
    for path in files:
        d = _load(path)
        args = (d["size1"], d["size2"], _proof(d), _b64(d["root1"]), _b64(d["root2"]))
        if _passes(verify_consistency, *args) == d["wantErr"]:
            wrong.append(path.relative_to(vectors_dir))
    assert wrong == []
    kinds = [_load(p)["wantErr"] for p in files]
    assert (len(files), kinds.count(False)) == (98, 6)


def test_every_vector_file_is_covered(vectors_dir: Path) -> None:
    """The two walks above see every file of the folder (196), so none is silently left out."""
    every = sorted((vectors_dir / "merkle-rfc9162").rglob("*.json"))
    walked = _files(vectors_dir, "inclusion") + _files(vectors_dir, "consistency")
    assert (len(every), sorted(walked)) == (196, every)


@pytest.mark.parametrize("kind", ["inclusion", "consistency"])
def test_generated_proofs_equal_positive_vectors(vectors_dir: Path, kind: str) -> None:
    """Proofs built from stored nodes equal the vectors' over the reference tree, byte for byte."""
    generated = 0
    for path in _files(vectors_dir, kind):
        d = _load(path)
        if d["wantErr"] or not _proof(d):
            continue
        if kind == "inclusion":
            store = _reference_store(d["treeSize"])
            got = inclusion_proof(d["leafIdx"], d["treeSize"], store.nodes)
        else:
            store = _reference_store(d["size2"])
            got = consistency_proof(d["size1"], d["size2"], store.nodes)
        assert got == _proof(d), path
        generated += 1
    assert generated == {"inclusion": 4, "consistency": 4}[kind]
