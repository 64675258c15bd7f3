"""FHIR store use cases: validate at ingest, stamp id/version/lastUpdated, index, store."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from gateway.errors import ConflictError, NotFoundError
from gateway.fhir import bundle, index
from gateway.fhir.search import parse_query
from gateway.fhir.validation import check_id, parse_resource, resource_model
from gateway.store.fhir_store import FhirStore, StoredResource


@dataclass(frozen=True, slots=True)
class Written:
    resource: StoredResource
    created: bool


WriteListener = Callable[[StoredResource, StoredResource | None], None]
"""Called after a write with (the stored resource, the version it replaced or None), in the
writer's thread: the consent lifecycle turns Consent writes into ledger entries this way."""


class FhirService:
    """The custodian's own records. ``clock`` gives seconds since the epoch (lastUpdated)."""

    def __init__(self, store: FhirStore, clock: Callable[[], int]) -> None:
        self.store = store
        self._clock = clock
        self.started = _instant(clock())
        self._listeners: list[WriteListener] = []

    def add_listener(self, listener: WriteListener) -> None:
        """Call ``listener`` after every successful create or update (an error it raises reaches
        the client: the resource is stored, what the listener does after it may not be)."""
        self._listeners.append(listener)

    def create(self, type_: str, raw: bytes) -> Written:
        """Validate ``raw``; store it under a new server-assigned id (any id sent is replaced)."""
        data = parse_resource(raw, type_)
        stored = self._stamp(type_, secrets.token_hex(16), 1, data)
        self.store.insert(stored)
        self._notify(stored, None)
        return Written(stored, created=True)

    def update(self, type_: str, id_: str, raw: bytes, if_match: str | None) -> Written:
        """Create or replace ``type_/id_``. ``if_match`` (W/"n") must name the current version."""
        check_id(id_)
        data = parse_resource(raw, type_, id_)
        current = self.store.read(type_, id_)
        if if_match is not None and (current is None or if_match != _etag(current.version)):
            raise ConflictError("If-Match does not name the current version")
        stored = self._stamp(type_, id_, current.version + 1 if current else 1, data)
        if current is None:
            self.store.insert(stored)
        else:
            self.store.replace(stored)
        self._notify(stored, current)
        return Written(stored, created=current is None)

    def read(self, type_: str, id_: str) -> StoredResource:
        resource_model(type_)
        found = self.store.read(type_, check_id(id_))
        if found is None:
            raise NotFoundError(f"{type_} not found")
        return found

    def vread(self, type_: str, id_: str, version: str) -> StoredResource:
        """Only the current version is retained: an older one is reported not found."""
        found = self.read(type_, id_)
        if version != str(found.version):
            raise NotFoundError(f"{type_} version not found")
        return found

    def search(self, type_: str, params: Sequence[tuple[str, str]], base: str) -> bytes:
        """One searchset page for ``params`` (the raw query pairs), links rooted at ``base``."""
        resource_model(type_)
        query = parse_query(type_, params)
        page = self.store.search(query)
        return bundle.searchset(base, page, bundle.page_links(base, query, params, page.total))

    def _notify(self, stored: StoredResource, previous: StoredResource | None) -> None:
        for listener in self._listeners:
            listener(stored, previous)

    def _stamp(self, type_: str, id_: str, version: int, data: dict[str, object]) -> StoredResource:
        now = _instant(self._clock())
        meta = data.get("meta")
        meta = dict(meta) if isinstance(meta, dict) else {}
        meta.update(versionId=str(version), lastUpdated=now)
        data = {**data, "id": id_, "meta": meta}
        body = orjson.dumps(data)
        return StoredResource(
            type_, id_, version, body, index.patient_of(data), index.date_of(data), now
        )


def _instant(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _etag(version: int) -> str:
    return f'W/"{version}"'


def etag(resource: StoredResource) -> str:
    return _etag(resource.version)
