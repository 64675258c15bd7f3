"""Item 3: fhirpy, an established FHIR client, drives a gateway served by uvicorn on a real socket."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from gateway.app import create_app
from gateway.settings import Settings
from tests.gateway.conftest import fetch_token
from tests.gateway.member import ManualClock, Member
from tests.gateway.serve import serve


@pytest.fixture
def fhir(settings: Settings, member: Member, clock: ManualClock) -> Iterator[SyncFHIRClient]:
    app = create_app(settings, clock=clock)
    with serve(app) as base, httpx.Client(base_url=base) as http:
        token = fetch_token(http, member, clock.now)
        yield SyncFHIRClient(f"{base}/fhir", authorization=f"Bearer {token}")


def test_create_read_search_and_page(fhir: SyncFHIRClient) -> None:
    patient = fhir.resource("Patient", name=[{"family": "Lovelace"}], birthDate="1815-12-10")
    patient.save()
    assert patient.id
    read = fhir.reference("Patient", patient.id).to_resource()
    assert read["name"][0]["family"] == "Lovelace"
    assert read["meta"]["versionId"] == "1"

    for month in range(1, 13):
        fhir.resource(
            "Observation",
            status="final",
            code={"text": "weight"},
            subject={"reference": f"Patient/{patient.id}"},
            effectiveDateTime=f"2021-{month:02d}-01",
        ).save()

    everything = fhir.resources("Observation").search(patient=patient.id).limit(5).fetch_all()
    assert len(everything) == 12  # three pages of 5, 5, 2 followed through Bundle.link next
    first_page = fhir.resources("Observation").search(patient=patient.id).limit(5).fetch()
    assert len(first_page) == 5
    second_half = (
        fhir.resources("Observation").search(patient=patient.id, date="ge2021-07").fetch_all()
    )
    assert sorted(o["effectiveDateTime"] for o in second_half) == [
        f"2021-{m:02d}-01" for m in range(7, 13)
    ]

    patient["gender"] = "female"
    patient.save()
    assert fhir.reference("Patient", patient.id).to_resource()["meta"]["versionId"] == "2"


def test_errors_reach_the_client_as_operation_outcomes(fhir: SyncFHIRClient) -> None:
    with pytest.raises(ResourceNotFound):
        fhir.reference("Patient", "missing").to_resource()
    with pytest.raises(OperationOutcome):
        fhir.resource("Patient", birthDate="not-a-date").save()
