"""Organisation-to-organisation access grants in state: typed readers and the writer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger.ids import OrgId, TxId
from ledger.state import namespaces as ns
from ledger.statekv import StateChange, StateReader

ACTIVE = "active"
REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str
    grantor: OrgId
    grantee: OrgId
    resource_types: tuple[str, ...]
    purposes: tuple[str, ...]
    expires: int
    """Epoch ms after which the grant no longer applies."""
    status: str
    index: int
    ts: int
    tx_id: TxId
    revoked_index: int | None

    def in_force(self, at_ms: int) -> bool:
        """Not revoked and not expired at ``at_ms`` (the caller's clock)."""
        return self.status == ACTIVE and at_ms < self.expires


def _grant_of(row: Mapping[str, Any]) -> Grant:
    return Grant(
        grant_id=row["grant_id"],
        grantor=OrgId(row["grantor"]),
        grantee=OrgId(row["grantee"]),
        resource_types=tuple(row["resource_types"]),
        purposes=tuple(row["purposes"]),
        expires=row["expires"],
        status=row["status"],
        index=row["index"],
        ts=row["ts"],
        tx_id=TxId(row["tx_id"]),
        revoked_index=row["revoked_index"],
    )


def grant_row(reader: StateReader, grant_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = ns.read(reader, ns.GRANTS, grant_id)
    return row


def grant(reader: StateReader, grant_id: str) -> Grant | None:
    row = grant_row(reader, grant_id)
    return None if row is None else _grant_of(row)


def grants_for(reader: StateReader, grantee: str) -> list[Grant]:
    """Every grant ever issued to ``grantee``, active or revoked, by grant id."""
    rows = ns.rows_by_index(reader, ns.GRANTS_BY_GRANTEE, grantee, ns.GRANTS)
    return [_grant_of(row) for row in rows]


def store_grant(row: Mapping[str, Any]) -> list[StateChange]:
    return ns.put_indexed(ns.GRANTS, row["grant_id"], row, ns.GRANTS_BY_GRANTEE, row["grantee"])
