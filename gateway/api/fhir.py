"""FHIR REST routes: metadata, create, read, update, search (bodies are application/fhir+json)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway.api.contract import Scheme, secured
from gateway.api.deps import FHIR_MEDIA_TYPES, FhirBodyDep, ReadDep, ServicesDep, WriteDep
from gateway.errors import FHIR_JSON
from gateway.fhir.capability import capability_statement
from gateway.fhir.service import Written, etag
from gateway.store.fhir_store import StoredResource

router = APIRouter(prefix="/fhir", tags=["fhir"])

RESOURCE = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string"}},
    "description": "A FHIR R4 resource (a searchset Bundle for search)",
}


class FhirResponse(Response):
    """Documents the routes' media type; the handlers build their Responses themselves."""

    media_type = FHIR_JSON


def _fhir(
    *errors: int, ok: tuple[int, ...] = (200,), body: bool = False, open_: bool = False
) -> dict[str, Any]:
    """Decorator arguments of a FHIR route: SMART token (unless ``open_``), FHIR JSON answers,
    an optional body."""
    args = secured() if open_ else secured(Scheme.SMART, errors=(403, 404, *errors))
    for status in ok:
        args["responses"][status] = {
            "description": "FHIR R4 JSON",
            "content": {FHIR_JSON: {"schema": RESOURCE}},
        }
    if body:
        content = {media: {"schema": RESOURCE} for media in sorted(FHIR_MEDIA_TYPES)}
        args["openapi_extra"]["requestBody"] = {"required": True, "content": content}
    return {**args, "response_class": FhirResponse}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _written(request: Request, written: Written) -> Response:
    row = written.resource
    headers = {
        "ETag": etag(row),
        "Last-Modified": row.last_updated,
        "Location": f"{_base(request)}/fhir/{row.type}/{row.id}/_history/{row.version}",
    }
    status = 201 if written.created else 200
    return Response(row.body, status, headers=headers, media_type=FHIR_JSON)


@router.get("/metadata", **_fhir(open_=True))
def metadata(request: Request, svc: ServicesDep) -> Response:
    body = capability_statement(_base(request), "0.1.0", svc.fhir.started)
    return Response(body, media_type=FHIR_JSON)


@router.post("/{resource_type}", status_code=201, **_fhir(422, ok=(201,), body=True))
async def create(
    request: Request, resource_type: str, svc: ServicesDep, _: WriteDep, body: FhirBodyDep
) -> Response:
    written = await run_in_threadpool(svc.fhir.create, resource_type, body)
    return _written(request, written)


@router.put("/{resource_type}/{resource_id}", **_fhir(409, 422, ok=(200, 201), body=True))
async def update(
    request: Request,
    resource_type: str,
    resource_id: str,
    svc: ServicesDep,
    _: WriteDep,
    body: FhirBodyDep,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    written = await run_in_threadpool(svc.fhir.update, resource_type, resource_id, body, if_match)
    return _written(request, written)


def _stored(row: StoredResource) -> Response:
    headers = {"ETag": etag(row), "Last-Modified": row.last_updated}
    return Response(row.body, headers=headers, media_type=FHIR_JSON)


@router.get("/{resource_type}/{resource_id}", **_fhir())
def read(resource_type: str, resource_id: str, svc: ServicesDep, _: ReadDep) -> Response:
    return _stored(svc.fhir.read(resource_type, resource_id))


@router.get("/{resource_type}/{resource_id}/_history/{version_id}", **_fhir())
def vread(
    resource_type: str, resource_id: str, version_id: str, svc: ServicesDep, _: ReadDep
) -> Response:
    return _stored(svc.fhir.vread(resource_type, resource_id, version_id))


@router.get("/{resource_type}", **_fhir())
def search(request: Request, resource_type: str, svc: ServicesDep, _: ReadDep) -> Response:
    params = list(request.query_params.multi_items())
    body = svc.fhir.search(resource_type, params, _base(request))
    return Response(body, media_type=FHIR_JSON)
