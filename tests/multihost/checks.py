"""What the multi-host tests check on every member: acknowledged entries present, equal chains,
and `medgate ledger verify` passing on each member's own PostgreSQL store."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ledger.ids import TxId
from ledger.storage.sql import SqlStore
from tests.e2e.gateways import wait_for
from tests.multihost.consortium import MEDGATE, HostConsortium
from tests.multihost.member import MemberHost


def head_of(member: MemberHost) -> tuple[int, str]:
    """(height, block hash) of the member's own store."""

    def read(store: SqlStore) -> tuple[int, str]:
        head = store.head()
        assert head is not None
        return head.height, head.hash()

    return member.gateway.read_state(read)


def missing(member: MemberHost, txs: Iterable[str]) -> list[str]:
    """The tx ids among ``txs`` that the member's store does not hold as a valid entry."""

    def read(store: SqlStore) -> list[str]:
        found = [(tx, store.entry_by_tx(TxId(tx))) for tx in txs]
        return [tx for tx, entry in found if entry is None or entry.code != 0]

    return member.gateway.read_state(read)


def wait_converged(
    c: HostConsortium, txs: list[str], timeout: float = 90.0, members: list[str] | None = None
) -> tuple[int, str]:
    """Until every member (of ``members``) holds every tx of ``txs`` and all heads are the same
    block; that head. TimeoutError naming what is missing where."""
    chosen = [c[org] for org in members] if members else list(c.members.values())
    last: dict[str, Any] = {}

    def converged() -> tuple[int, str] | None:
        heads = {m.org: head_of(m) for m in chosen}
        absent = {m.org: len(missing(m, txs)) for m in chosen}
        last.update(heads=heads, absent=absent)
        if any(absent.values()) or len(set(heads.values())) != 1:
            return None
        return next(iter(heads.values()))

    try:
        return wait_for(converged, "every member holds every acknowledged entry", timeout)
    except TimeoutError as exc:
        raise TimeoutError(f"not converged: {last}") from exc


def verify(member: MemberHost) -> dict[str, Any]:
    """`medgate ledger verify --config` run on the member's host against its PostgreSQL store and
    the NATS log; asserts exit 0 and returns the summary."""
    config = str(member.config)
    done = member.host.exec([MEDGATE, "ledger", "verify", "--config", config, "--quiet"])
    assert done.returncode == 0, (member.org, done.stdout[-2000:], done.stderr[-2000:])
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary
