"""Routes: requests this member's own clients send out to other members (query, deliver)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/outbound", tags=["outbound"])
