"""FHIR R4 validation for the de-identification tests (the release path never re-validates)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class


def assert_valid_r4(resource: dict[str, Any]) -> None:
    """Raises (pydantic ValidationError) unless ``resource`` is valid for its R4 model.

    fhir.resources ships R4B as its closest model to R4 (gateway/fhir/validation.py says why)."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
