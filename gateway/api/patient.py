"""Routes: the patient's own view: tokens, the access log with proofs, the portal."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/patient", tags=["patient"])
