"""The FHIR store, one suite on SQLite and on real PostgreSQL; search filters vs a naive reference."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import ConflictError
from gateway.fhir.search import DateBound, DateOp, SearchQuery, parse_date
from gateway.store.fhir_store import RESOURCES, FhirStore, StoredResource


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FhirStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/nested/gateway.db"
    else:
        url = request.getfixturevalue("pg_url")
    fhir_store = FhirStore.from_url(url)
    yield fhir_store
    fhir_store.close()


def row(
    id_: str, *, version: int = 1, patient: str | None = "p1", date: str | None = None
) -> StoredResource:
    body = b'{"resourceType":"Observation","id":"%s"}' % id_.encode()
    return StoredResource(
        "Observation", id_, version, body, patient, date, f"2027-01-01T00:00:{id_[-2:]}Z"
    )


def test_insert_read_replace(store: FhirStore) -> None:
    store.insert(row("o-01"))
    found = store.read("Observation", "o-01")
    assert found == row("o-01")
    assert store.read("Patient", "o-01") is None
    with pytest.raises(ConflictError):
        store.insert(row("o-01"))
    store.replace(row("o-01", version=2, patient="p2"))
    assert store.read("Observation", "o-01") == row("o-01", version=2, patient="p2")
    with pytest.raises(ConflictError):
        store.replace(row("o-01", version=2))  # version 1 is gone: a lost update is refused


def test_search_pages_are_stable_and_total_counts_all(store: FhirStore) -> None:
    for i in range(7):
        store.insert(row(f"o-{i:02d}", patient="p1" if i % 2 else "p2"))
    page1 = store.search(SearchQuery("Observation", patient="p1", count=2))
    page2 = store.search(SearchQuery("Observation", patient="p1", count=2, offset=2))
    assert page1.total == page2.total == 3
    ids = [r.id for r in page1.rows + page2.rows]
    assert ids == ["o-01", "o-03", "o-05"]
    assert store.search(SearchQuery("Observation", ids=("o-00", "o-01"))).total == 2
    assert store.search(SearchQuery("Observation", count=0)).rows == ()


def test_bytes_round_trip_exactly(store: FhirStore) -> None:
    body = '{"resourceType":"Patient","id":"u","name":[{"text":"Zoë 🩺"}]}'.encode()
    store.insert(StoredResource("Patient", "u", 1, body, "u", None, "2027-01-01T00:00:00Z"))
    found = store.read("Patient", "u")
    assert found is not None
    assert found.body == body


DAYS = st.dates(
    min_value=__import__("datetime").date(2019, 1, 1),
    max_value=__import__("datetime").date(2021, 12, 31),
)


def _naive(bound: DateBound, day: str | None) -> bool:
    if day is None:
        return False
    return {
        DateOp.EQ: bound.low <= day <= bound.high,
        DateOp.GE: day >= bound.low,
        DateOp.GT: day > bound.high,
        DateOp.LE: day <= bound.high,
        DateOp.LT: day < bound.low,
    }[bound.op]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    days=st.lists(st.one_of(st.none(), DAYS.map(str)), min_size=1, max_size=12),
    prefix=st.sampled_from(["", "eq", "ge", "gt", "le", "lt"]),
    probe=DAYS,
    precision=st.sampled_from([4, 7, 10]),
)
def test_date_filter_matches_naive_reference(
    store: FhirStore, days: list[str | None], prefix: str, probe: date, precision: int
) -> None:
    with store.engine.begin() as conn:
        conn.execute(RESOURCES.delete())
    for i, day in enumerate(days):
        store.insert(row(f"o-{i:02d}", date=day))
    bound = parse_date(prefix + str(probe)[:precision])
    found = {r.id for r in store.search(SearchQuery("Observation", dates=(bound,), count=100)).rows}
    expected = {f"o-{i:02d}" for i, day in enumerate(days) if _naive(bound, day)}
    assert found == expected


def test_the_version_row_shows_another_replicas_writes_at_once(store: FhirStore) -> None:
    """Two stores over one database stand for two replicas: each write and fence raised through
    one is in the other's very next ``versions`` read (SQLite reads it on the event loop through
    a held driver connection: it must never sit on an old snapshot)."""
    other = FhirStore.from_url(store.engine.url.render_as_string(hide_password=False))
    try:
        assert store.versions_inline == (store.engine.dialect.name == "sqlite")
        before, fence = store.versions()
        other.insert(row("o-07"))
        assert store.versions() == (before + 1, fence)
        other.raise_fence(fence + 5)
        assert store.versions() == (before + 1, fence + 5)
        other.replace(row("o-07", version=2))
        assert store.versions()[0] == before + 2
    finally:
        other.close()
