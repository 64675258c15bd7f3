"""Index values of a resource: the patient it is about and its clinically relevant date (pure)."""

from __future__ import annotations

import re
from typing import Any

PATIENT_FIELDS = ("subject", "patient", "beneficiary")
DATE_FIELDS = (
    ("effectiveDateTime",),
    ("effectivePeriod", "start"),
    ("issued",),
    ("period", "start"),
    ("created",),
    ("recordedDate",),
    ("onsetDateTime",),
    ("authoredOn",),
    ("occurrenceDateTime",),
    ("performedDateTime",),
    ("performedPeriod", "start"),
    ("dateTime",),
    ("date",),
)
"""First present wins: the date a clinician would search by for the common resource types."""

_DAY = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_PATIENT_REF = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})$")


def patient_of(resource: dict[str, Any]) -> str | None:
    """The Patient id a resource belongs to (its own id for a Patient), or None."""
    if resource.get("resourceType") == "Patient":
        value = resource.get("id")
        return value if isinstance(value, str) else None
    for field in PATIENT_FIELDS:
        ref = resource.get(field)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            match = _PATIENT_REF.search(ref["reference"])
            if match:
                return match.group(1)
    return None


def date_of(resource: dict[str, Any]) -> str | None:
    """YYYY-MM-DD of the first DATE_FIELDS path present; partial dates take their first day."""
    for path in DATE_FIELDS:
        value: Any = resource
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        if isinstance(value, str):
            match = _DAY.match(value)
            if match:
                year, month, day = match.groups()
                return f"{year}-{month or '01'}-{day or '01'}"
    return None
