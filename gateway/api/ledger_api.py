"""Routes: read access to this member's ledger: head, blocks, final checkpoint, proofs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/ledger", tags=["ledger_api"])
