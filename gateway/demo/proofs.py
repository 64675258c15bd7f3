"""What a patient's own software would check in their audit log: the checkpoint is cosigned by a
quorum of the consortium's members (keys from the genesis the patient trusts), every entry is
included in the log that checkpoint commits to (RFC 9162 inclusion proof), and that log extends the
one of a checkpoint the patient saw before (RFC 9162 consistency proof)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from ledger.blockbuild import genesis_block
from ledger.canonical import canonical
from ledger.checkpoint import Checkpoint, decode_cosigned, electorate_of, verify_cosigned
from ledger.entries import decode_entry
from ledger.errors import LedgerError
from ledger.ids import ConsortiumId
from ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from ledger.state import key_resolver
from ledger.statekv import MemoryState


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verified_checkpoint(root: Path, cosigned: dict[str, Any]) -> Checkpoint:
    """The checkpoint of ``cosigned`` once its quorum of signatures verifies under the member keys
    of ``root/consortium/genesis.json`` (all the patient trusts). Raises LedgerError."""
    genesis = (root / "consortium" / "genesis.json").read_bytes()
    state = MemoryState()
    block = genesis_block(genesis, key_resolver(state))
    state.apply(list(block.changes))
    consortium = ConsortiumId(block.entries[0].tx_id)
    return verify_cosigned(decode_cosigned(canonical(cosigned)), electorate_of(state), consortium)


def check_history(older: Checkpoint, newer: Checkpoint, proof: Any) -> tuple[bool, str]:
    """Whether the consistency ``proof`` (as GET /ledger/proof/consistency answers) shows that
    ``newer``'s tree extends ``older``'s; and one line saying so, or why not."""
    sizes = (
        f"the checkpoint of {newer.tree_size} entries and the one of {older.tree_size} seen before"
    )
    try:
        if (proof["from"], proof["to"]) != (older.tree_size, newer.tree_size):
            return False, f"HISTORY NOT PROVEN between {sizes}: a proof for other sizes"
        hashes = [bytes.fromhex(h) for h in proof["hashes"]]
        roots = bytes.fromhex(older.tree_root), bytes.fromhex(newer.tree_root)
        verify_consistency(older.tree_size, newer.tree_size, hashes, *roots)
    except (LedgerError, ValueError, KeyError, TypeError) as exc:
        return False, f"HISTORY NOT PROVEN between {sizes}: {exc}"
    return True, f"history consistent between {sizes} (consistency proof verified)"


def check_patient_log(root: Path, log: dict[str, Any]) -> tuple[bool, list[str]]:
    """(all verified, one line per entry). Trusts only ``root/consortium/genesis.json``."""
    if log.get("checkpoint") is None:
        return False, ["no final checkpoint yet"]
    try:
        cp = verified_checkpoint(root, log["checkpoint"])
    except LedgerError as exc:
        return False, [f"checkpoint refused: {exc}"]
    signers = ", ".join(s["org"] for s in log["checkpoint"]["signatures"])
    lines = [f"checkpoint: height {cp.height}, tree size {cp.tree_size}, cosigned by {signers}"]
    ok = True
    for entry in log.get("entries", []):
        verdict = _check_entry(entry, cp.tree_size, bytes.fromhex(cp.tree_root))
        ok = ok and verdict == "proof verified"
        who = entry["requester"]["org"]
        flags = " BREAK-GLASS" if entry["break_glass"] else ""
        flags += " notify-patient" if entry["notify_patient"] else ""
        lines.append(
            f"#{entry['index']:<4} {who:<11} {entry['purpose']:<8} {entry['decision']:<6} "
            f"{','.join(entry['resource_types'])[:40]:<40} {verdict}{flags}"
        )
    return ok, lines


def _check_entry(entry: dict[str, Any], size: int, root: bytes) -> str:
    proof = entry.get("proof")
    if proof is None:
        return "pending (newer than the checkpoint)"
    leaf = _b64(entry["leaf"])
    decoded = decode_entry(leaf)
    if decoded.tx_id != entry["tx_id"] or decoded.body.get("purpose") != entry["purpose"]:
        return "LEAF DOES NOT MATCH THE ENTRY"
    try:
        hashes = [bytes.fromhex(h) for h in proof["hashes"]]
        verify_inclusion(leaf_hash(leaf), entry["index"], size, hashes, root)
    except LedgerError as exc:
        return f"PROOF REFUSED: {exc}"
    return "proof verified"
