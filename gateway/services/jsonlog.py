"""Structured JSON log lines (one object per line) without PHI, for `medgate serve`.

What a line carries: time, level, logger, message, the ``extra`` fields the code attached (ids,
heights, digests, reasons: the gateway never puts patient data in a log call), and for an
exception its type and traceback frames. Exception *messages* are left out on purpose: a library
may echo a value it choked on (a search parameter, a resource field), and that may be PHI.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    """Formats a LogRecord as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, tz=UTC)
        out: dict[str, Any] = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out:
                out[key] = _jsonable(value)
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _, tb = record.exc_info
            out["exception"] = {
                "type": exc_type.__qualname__,
                "frames": [
                    f"{frame.filename}:{frame.lineno} in {frame.name}"
                    for frame in traceback.extract_tb(tb)
                ],
            }
        return json.dumps(out, separators=(",", ":"), sort_keys=True)


def configure_logging(level: int = logging.INFO) -> None:
    """Route every logger (uvicorn's included) to stderr as JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


_decisions = logging.getLogger("medgate.decision")


def log_decision(body: Mapping[str, Any], tx_id: str) -> None:
    """One line per recorded decision, from its ``access.record`` body: effect, purpose, reason
    code, tx id, requester, custodian, types. Never the patient_ref (a patient's linkable
    pseudonym) nor the basis ids (consent ids are chosen by EHRs and may embed identifiers)."""
    _decisions.info(
        "decision",
        extra={
            "effect": body.get("decision"),
            "purpose": body.get("purpose"),
            "reason": body.get("reason", "permit"),
            "tx_id": tx_id,
            "requester": body.get("requester"),
            "custodian": body.get("custodian"),
            "resource_types": body.get("resource_types"),
            "break_glass": body.get("break_glass"),
        },
    )
