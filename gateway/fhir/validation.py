"""Ingest validation: JSON bytes -> a resource dict that the R4 model accepts, or a typed error.

fhir.resources 8 ships R5 as its default package, STU3, and R4B (4.3.0); there is no R4 (4.0.1)
package. R4B is R4 plus a handful of additions with the same shape for the resources exchanged here,
so it is the closest available model; validation runs at ingest only (ARCHITECTURE.md section 5).
Problems are reported by location and kind only: the offending values may be PHI and never echoed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from gateway.errors import BadRequestError, InvalidResourceError, Issue, NotFoundError
from gateway.fhir.codes import code_issues
from gateway.fhir.search import FHIR_ID

SUPPORTED_TYPES = (
    "AllergyIntolerance",
    "CarePlan",
    "Claim",
    "ClaimResponse",
    "Composition",
    "Condition",
    "Consent",
    "Coverage",
    "DiagnosticReport",
    "DocumentReference",
    "Encounter",
    "ExplanationOfBenefit",
    "Immunization",
    "MedicationRequest",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "Procedure",
    "ServiceRequest",
)
"""Resource types this store accepts; the CapabilityStatement lists exactly these."""

MAX_ISSUES = 20


@lru_cache(maxsize=len(SUPPORTED_TYPES))
def resource_model(type_: str) -> type[Resource]:
    """The R4B model class of a supported type. Raises NotFoundError for anything else."""
    if type_ not in SUPPORTED_TYPES:
        raise NotFoundError("resource type not supported")
    model = get_fhir_model_class(type_)
    assert issubclass(model, Resource)  # noqa: S101 - SUPPORTED_TYPES lists resources only
    return model


def check_id(id_: str) -> str:
    if not FHIR_ID.fullmatch(id_):
        raise BadRequestError("the id is not a valid FHIR id")
    return id_


def parse_resource(raw: bytes, type_: str, id_: str | None = None) -> dict[str, Any]:
    """Parse and validate ``raw`` as a ``type_`` resource (with id ``id_`` on update).

    Raises BadRequestError (not a JSON object, wrong resourceType or id) or InvalidResourceError
    (the R4 model refuses it, a required code is outside its value set, a string holds a control
    character; one issue per problem, location and kind only).
    """
    model = resource_model(type_)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError("the body is not JSON") from exc
    if not isinstance(data, dict):
        raise BadRequestError("the body is not a JSON object")
    if data.get("resourceType") != type_:
        raise BadRequestError("resourceType does not match the URL")
    if id_ is not None and data.get("id", id_) != id_:
        raise BadRequestError("the resource id does not match the URL")
    try:
        model.model_validate(data)
    except ValidationError as exc:
        raise InvalidResourceError(
            "the resource is not valid FHIR R4", issues=_issues(exc)
        ) from exc
    issues = code_issues(model, data)
    if issues:
        raise InvalidResourceError("the resource is not valid FHIR R4", issues=issues[:MAX_ISSUES])
    return data


def _issues(exc: ValidationError) -> list[Issue]:
    issues = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in error["loc"]) or None
        # error["type"] is a fixed vocabulary (missing, extra_forbidden, value_error...) while
        # error["msg"] can quote the input for some validators, so only the kind is sent.
        issues.append(Issue("structure", f"invalid value ({error['type']})", location))
    return issues[:MAX_ISSUES]
