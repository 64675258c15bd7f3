"""The CapabilityStatement served at /fhir/metadata: what this store actually supports, no more."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.fhir.validation import SUPPORTED_TYPES

FHIR_VERSION = "4.0.1"
_SECURITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"
_INTERACTIONS = [{"code": c} for c in ("read", "create", "update", "search-type")]


def _search_params(type_: str) -> list[dict[str, str]]:
    params = [{"name": "_id", "type": "token"}, {"name": "date", "type": "date"}]
    if type_ != "Patient":
        params.append({"name": "patient", "type": "reference"})
    return params


def capability_statement(base: str, software_version: str, date: str) -> bytes:
    """The statement for a server at ``base``; ``date``: when it started (dateTime)."""
    resources: list[dict[str, Any]] = [
        {
            "type": type_,
            "interaction": _INTERACTIONS,
            "versioning": "versioned-update",
            "updateCreate": True,
            "searchParam": _search_params(type_),
        }
        for type_ in SUPPORTED_TYPES
    ]
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": "medgate", "version": software_version},
        "implementation": {"description": "medgate gateway FHIR store", "url": f"{base}/fhir"},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": _SECURITY_SYSTEM,
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ]
                },
                "resource": resources,
            }
        ],
    }
    return orjson.dumps(statement)
