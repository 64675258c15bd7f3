"""Assertions over the members' stores once their nodes stopped: same chain, every ack once, verify."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ledger.storage.sql import SqlStore
from ledger.validation.codes import ValidationCode
from ledger.verify import verify_store
from tests.integration.nodes import MEMBERS
from tests.support.ledger_node import store_url


@contextmanager
def member_stores(root: Path) -> Iterator[list[SqlStore]]:
    stores = [SqlStore(store_url(root, m.org)) for m in MEMBERS]
    try:
        yield stores
    finally:
        for store in stores:
            store.close()


def assert_same_chain(stores: list[SqlStore]) -> int:
    """Every store holds the same blocks (hash by hash) and passes a full verify; returns the height."""
    heads = [store.head() for store in stores]
    assert all(head is not None for head in heads)
    assert len({head.hash() for head in heads if head is not None}) == 1, heads
    height = heads[0].height if heads[0] is not None else -1
    for h in range(height + 1):
        assert len({store.block_hash(h) for store in stores}) == 1, f"block {h} differs"
    for store in stores:
        verified = verify_store(store)
        assert verified.height == height
    return height


def assert_committed_once(stores: list[SqlStore], acked: Iterable[str]) -> None:
    """Each acknowledged tx is committed VALID on every store, and no tx id is in any log twice."""
    wanted = set(acked)
    for store in stores:
        counts = Counter(entry.tx_id for entry in store.iter_entries())
        repeated = [tx for tx, n in counts.items() if n > 1]
        assert not repeated, f"ordered more than once: {repeated[:5]}"
        missing = wanted - counts.keys()
        assert not missing, (
            f"{len(missing)} acknowledged entries missing, e.g. {sorted(missing)[:3]}"
        )
        codes = Counter(entry.code for entry in store.iter_entries() if entry.tx_id in wanted)
        assert codes == Counter({int(ValidationCode.VALID): len(wanted)}), codes
