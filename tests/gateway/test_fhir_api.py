"""The FHIR REST surface: create, read, update, search, metadata and every error status."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from gateway.store.fhir_store import StoredResource
from tests.gateway.conftest import fetch_token
from tests.gateway.member import ManualClock, Member, write_member
from tests.gateway.serve import serve

FHIR = {"Content-Type": "application/fhir+json"}


def patient(family: str = "Doe") -> dict[str, object]:
    return {"resourceType": "Patient", "name": [{"family": family}], "birthDate": "1970-01-01"}


def observation(patient_id: str, day: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "heart rate"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": f"{day}T10:00:00Z",
    }


def post(
    client: httpx.Client, auth: dict[str, str], resource: dict[str, object]
) -> dict[str, object]:
    response = client.post(
        f"/fhir/{resource['resourceType']}", content=orjson.dumps(resource), headers=auth | FHIR
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


def assert_outcome(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "error"
    return dict(body)


def test_create_then_read_serves_the_stored_bytes(
    client: httpx.Client, auth: dict[str, str]
) -> None:
    created = post(client, auth, patient())
    assert created["meta"] == {"versionId": "1", "lastUpdated": "2027-01-15T08:00:00Z"}
    read = client.get(f"/fhir/Patient/{created['id']}", headers=auth)
    assert read.status_code == 200
    assert read.headers["content-type"] == "application/fhir+json"
    assert read.headers["etag"] == 'W/"1"'
    assert read.content == orjson.dumps(created)
    location = client.get(response_location(client, auth), headers=auth)
    assert location.status_code == 200


def response_location(client: httpx.Client, auth: dict[str, str]) -> str:
    response = client.post("/fhir/Patient", content=orjson.dumps(patient()), headers=auth | FHIR)
    location = response.headers["location"]
    assert location.endswith("/_history/1")
    return str(location)


def test_reads_never_revalidate(client: httpx.Client, auth: dict[str, str]) -> None:
    # Bytes that would fail ingest validation are served as stored: reads do not touch the model.
    odd = b'{"resourceType":"Patient","id":"raw1","notAnR4Element":true}'
    store = client.app.state.services.fhir.store  # type: ignore[attr-defined]
    store.insert(StoredResource("Patient", "raw1", 1, odd, "raw1", None, "2027-01-01T00:00:00Z"))
    assert client.get("/fhir/Patient/raw1", headers=auth).content == odd


def test_update_versions_and_update_as_create(client: httpx.Client, auth: dict[str, str]) -> None:
    body = orjson.dumps({**patient(), "id": "p-7"})
    first = client.put("/fhir/Patient/p-7", content=body, headers=auth | FHIR)
    assert first.status_code == 201
    second = client.put("/fhir/Patient/p-7", content=body, headers=auth | FHIR)
    assert second.status_code == 200
    assert second.json()["meta"]["versionId"] == "2"
    stale = client.put(
        "/fhir/Patient/p-7", content=body, headers=auth | FHIR | {"If-Match": 'W/"1"'}
    )
    assert_outcome(stale, 409)
    current = client.put(
        "/fhir/Patient/p-7", content=body, headers=auth | FHIR | {"If-Match": 'W/"2"'}
    )
    assert current.status_code == 200
    assert client.get("/fhir/Patient/p-7/_history/3", headers=auth).status_code == 200
    assert_outcome(client.get("/fhir/Patient/p-7/_history/1", headers=auth), 404)


def test_search_by_patient_date_and_id_with_paging(
    client: httpx.Client, auth: dict[str, str]
) -> None:
    pid = str(post(client, auth, patient())["id"])
    other = str(post(client, auth, patient("Roe"))["id"])
    days = [f"2020-0{m}-15" for m in range(1, 8)]
    ids = [str(post(client, auth, observation(pid, day))["id"]) for day in days]
    post(client, auth, observation(other, "2020-03-15"))

    page = client.get(f"/fhir/Observation?patient=Patient/{pid}&_count=3", headers=auth).json()
    assert page["type"] == "searchset"
    assert page["total"] == 7
    assert len(page["entry"]) == 3
    seen: list[str] = []
    for _ in range(5):  # bounded: 7 results at 3 per page need 3 pages
        seen.extend(e["resource"]["id"] for e in page["entry"])
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not nxt:
            break
        page = client.get(nxt[0], headers=auth).json()
    assert sorted(seen) == sorted(ids)
    assert any(link["relation"] == "previous" for link in page["link"])

    ranged = client.get(
        f"/fhir/Observation?patient={pid}&date=ge2020-03&date=lt2020-06-01", headers=auth
    ).json()
    assert ranged["total"] == 3
    by_id = client.get(f"/fhir/Observation?_id={ids[0]},{ids[1]}", headers=auth).json()
    assert {e["resource"]["id"] for e in by_id["entry"]} == {ids[0], ids[1]}


def test_metadata_is_a_capability_statement(client: httpx.Client) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    body = response.json()
    assert body["resourceType"] == "CapabilityStatement"
    types = {r["type"] for r in body["rest"][0]["resource"]}
    assert {"Patient", "Observation", "Claim"} <= types


def test_invalid_resource_is_422_without_echoing_values(
    client: httpx.Client, auth: dict[str, str]
) -> None:
    bad = {"resourceType": "Patient", "birthDate": "SECRET-PHI-VALUE", "nonsense": 1}
    response = client.post("/fhir/Patient", content=orjson.dumps(bad), headers=auth | FHIR)
    body = assert_outcome(response, 422)
    locations = {tuple(i.get("expression", [])) for i in body["issue"]}  # type: ignore[attr-defined]
    assert ("birthDate",) in locations
    assert ("nonsense",) in locations
    assert b"SECRET-PHI-VALUE" not in response.content


def test_error_statuses(client: httpx.Client, auth: dict[str, str], member: Member) -> None:
    body = orjson.dumps(patient())
    assert_outcome(
        client.post("/fhir/Patient", content=body, headers=auth | {"Content-Type": "text/plain"}),
        415,
    )
    assert_outcome(client.post("/fhir/Patient", content=b"{not json", headers=auth | FHIR), 400)
    assert_outcome(client.post("/fhir/Observation", content=body, headers=auth | FHIR), 400)
    assert_outcome(client.get("/fhir/Patient/nope", headers=auth), 404)
    assert_outcome(client.get("/fhir/Spaceship/1", headers=auth), 404)
    assert_outcome(client.get("/fhir/Patient?color=blue", headers=auth), 400)
    assert_outcome(client.get("/fhir/Patient?date=yesterday", headers=auth), 400)
    unauthenticated = assert_outcome(client.get("/fhir/Patient/x"), 401)
    assert unauthenticated["issue"]
    assert client.get("/fhir/Patient/x").headers["www-authenticate"].startswith("Bearer")


def test_scope_enforced_per_route(client: httpx.Client, member: Member, clock: ManualClock) -> None:
    token = fetch_token(client, member, clock.now, scope="system/Patient.read")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/fhir/Patient?_count=1", headers=headers).status_code == 200
    assert_outcome(client.get("/fhir/Observation", headers=headers), 403)
    created = client.post("/fhir/Patient", content=orjson.dumps(patient()), headers=headers | FHIR)
    assert_outcome(created, 403)


def test_body_over_limit_is_413_with_and_without_content_length(
    client: httpx.Client, auth: dict[str, str]
) -> None:
    big = b"x" * 70_000  # the member's limit is 65,536 bytes
    declared = client.post("/fhir/Patient", content=big, headers=auth | FHIR)
    assert_outcome(declared, 413)

    def chunks() -> object:
        for _ in range(10):
            yield b"y" * 8000

    streamed = client.post("/fhir/Patient", content=chunks(), headers=auth | FHIR)  # type: ignore[arg-type]
    assert "content-length" not in {k.lower() for k in streamed.request.headers}
    assert_outcome(streamed, 413)


@pytest.mark.postgres
def test_gateway_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    member = write_member(tmp_path, storage_url=pg_url)
    settings = Settings.load(member.config)
    assert settings.storage.url == pg_url
    clock = ManualClock()
    with serve(create_app(settings, clock=clock)) as base, httpx.Client(base_url=base) as http:
        auth = {"Authorization": f"Bearer {fetch_token(http, member, clock.now)}"}
        created = post(http, auth, patient())
        read = http.get(f"/fhir/Patient/{created['id']}", headers=auth)
        assert read.content == orjson.dumps(created)
        found = http.get(f"/fhir/Patient?_id={created['id']}", headers=auth).json()
        assert found["total"] == 1


@pytest.mark.parametrize(
    ("resource", "element"),
    [
        ({"resourceType": "Patient", "gender": "banana"}, "gender"),
        ({"resourceType": "Patient", "gender": "Male"}, "gender"),
        ({**observation("p1", "2026-01-01"), "status": "banana"}, "status"),
        (
            {"resourceType": "Patient", "identifier": [{"use": "banana", "value": "1"}]},
            "identifier.0.use",
        ),
        ({"resourceType": "Patient", "name": [{"family": "Do\u0000e"}]}, "name.0.family"),
        ({"resourceType": "Patient", "name": [{"given": ["a", "b\u001bc"]}]}, "name.0.given.1"),
        (
            {
                "resourceType": "ServiceRequest",
                "status": "active",
                "intent": "wish",
                "subject": {"reference": "Patient/p1"},
            },
            "intent",
        ),
        (
            {
                "resourceType": "Consent",
                "status": "Inactive",
                "scope": {"text": "x"},
                "category": [{"text": "x"}],
            },
            "status",
        ),
    ],
)
def test_required_codes_and_control_characters_are_refused(
    client: httpx.Client, auth: dict[str, str], resource: dict[str, object], element: str
) -> None:
    response = client.post(
        f"/fhir/{resource['resourceType']}", content=orjson.dumps(resource), headers=auth | FHIR
    )
    body = assert_outcome(response, 422)
    locations = {tuple(i.get("expression", [])) for i in body["issue"]}  # type: ignore[attr-defined]
    assert (element,) in locations
    assert b"banana" not in response.content


def test_r4_codes_the_models_abbreviate_are_accepted(
    client: httpx.Client, auth: dict[str, str]
) -> None:
    for status in ("corrected", "cancelled", "entered-in-error", "unknown"):
        post(client, auth, {**observation("p1", "2026-01-01"), "status": status})
    post(
        client,
        auth,
        {
            "resourceType": "Patient",
            "gender": "other",
            "text": {
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml">a\nb\tc</div>',
            },
        },
    )
