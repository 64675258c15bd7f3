"""The pure parts of a release: the one enforcement point on stored rows, the header, the
access.record body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.services.access_record import access_body, basis_ids, ledger_code
from gateway.services.obligations import Audience, Row, header_value, released, rows_of_bundle
from policies import (
    AUDIT,
    DEIDENTIFY,
    NOTIFY_PATIENT,
    REFERENCED_ONLY,
    ConsentApplied,
    ContentCode,
    DataPeriod,
    Denied,
    DenyCause,
    Effect,
    Exclude,
    GrantApplied,
    Limit,
    Obligation,
    Period,
    Request,
    RuleApplied,
    SecurityLabel,
)
from policies.model import make_decision

BASE = "http://h"
AUDIENCE = Audience(BASE, frozenset({"Patient"}), lambda r: "x" + str(len(r)), 2026)


@dataclass(frozen=True, slots=True, eq=False)
class FromTheFuture(Obligation):
    """An obligation a newer policy could carry and this gateway does not know."""

    def _render(self) -> str:
        return "obligation-from-the-future"


def row(type_: str, id_: str, doc: dict[str, object], date: str | None = None) -> Row:
    return Row(type_, id_, orjson.dumps({"resourceType": type_, "id": id_, **doc}), date)


def permit(*obligations: Obligation, types: tuple[str, ...] = ("Claim", "Patient")) -> Any:
    return make_decision(
        Effect.PERMIT, types, (), tuple(sorted(set(obligations))), (), "0" * 64, "v1"
    )


def release(rows: list[Row], *obligations: Obligation) -> dict[str, Any]:
    out: dict[str, Any] = orjson.loads(released(permit(*obligations), rows, AUDIENCE))
    return out


def test_without_data_obligations_stored_bytes_go_verbatim() -> None:
    stored = row("Claim", "c1", {"b": 1})
    out = released(permit(AUDIT, NOTIFY_PATIENT), [stored], AUDIENCE)
    assert stored.body in out
    assert orjson.loads(out)["total"] == 1


def test_only_permitted_types_pass_in_a_fixed_order() -> None:
    rows = [row("Claim", "c2", {}), row("Observation", "o1", {}), row("Claim", "c1", {})]
    bundle = release(rows, AUDIT)
    assert [e["fullUrl"] for e in bundle["entry"]] == [
        f"{BASE}/fhir/Claim/c1",
        f"{BASE}/fhir/Claim/c2",
    ]


def test_referenced_only_keeps_what_a_claim_references() -> None:
    rows = [
        row("Claim", "c1", {"patient": {"reference": "Patient/p1"}}),
        row("Patient", "p1", {}),
        row("Patient", "p2", {}),
    ]
    bundle = release(rows, AUDIT, REFERENCED_ONLY)
    assert [e["fullUrl"] for e in bundle["entry"]] == [
        f"{BASE}/fhir/Claim/c1",
        f"{BASE}/fhir/Patient/p1",
    ]


def test_exclusions_and_limits_by_type() -> None:
    labelled = row("Claim", "c1", {"meta": {"security": [{"code": "PSY"}]}}, "2026-01-01")
    coded = row("Claim", "c2", {"type": {"coding": [{"system": "s", "code": "k"}]}}, None)
    assert release([labelled, coded], Exclude(SecurityLabel("PSY")))["total"] == 1
    # A limit keeps only what surely lies in the period: an undated resource is dropped.
    assert release([labelled, coded], Limit(DataPeriod(Period(0, None))))["total"] == 1
    # An exclusion that cannot tell (no date) drops too; the dated one lies outside it.
    assert (
        release([labelled, coded], Exclude(DataPeriod(Period(0, 1))))["entry"][0]["resource"]["id"]
        == "c1"
    )
    assert release([labelled, coded], Exclude(ContentCode("s|k")))["total"] == 1


def test_an_unknown_obligation_or_a_denial_releases_nothing() -> None:
    rows = [row("Claim", "c1", {})]
    assert release(rows, AUDIT, FromTheFuture())["total"] == 0
    denial = make_decision(Effect.DENY, (), (), (AUDIT,), (), "0" * 64, "v1")
    assert orjson.loads(released(denial, rows, AUDIENCE))["entry"] == []


def test_deidentify_scrubs_the_whole_bundle() -> None:
    person = row("Patient", "p1", {"name": [{"family": "Quarrington"}], "birthDate": "1961-04-17"})
    text = orjson.dumps(release([person], DEIDENTIFY)).decode()
    assert "Quarrington" not in text
    assert "p1" not in text
    assert '"birthDate":"1961"' in text


def test_a_delivered_bundle_is_encoded_and_indexed_as_the_store_does() -> None:
    resource = {"resourceType": "Observation", "id": "o1", "effectiveDateTime": "2026-02-03T10:00Z"}
    rows = rows_of_bundle({"resourceType": "Bundle", "entry": [{"resource": resource}, {}]})
    assert rows == [Row("Observation", "o1", orjson.dumps(resource), "2026-02-03")]


def test_obligations_header_is_sorted_codes_percent_encoding_what_a_header_cannot_carry() -> None:
    assert header_value([NOTIFY_PATIENT, AUDIT]) == "audit,notify-patient"
    odd = Exclude(ContentCode("urn:x|a,b c%é"))
    assert header_value([odd]) == "exclude-code:urn:x|a%2Cb%20c%25%C3%A9"


def test_access_body_of_a_denial_names_its_cause_and_the_request() -> None:
    request = Request(
        "ins", "insurer", "hosp", "r" * 43, ("Claim", "Observation"), "HPAYMT", consent_ref="c9"
    )
    reasons = (Denied(DenyCause.NO_CONSENT), RuleApplied("insurer", "HPAYMT"))
    decision = make_decision(Effect.DENY, (), reasons, (AUDIT,), (), "0" * 64, "v1")
    body = access_body(request, decision, basis=[], envelope_digest=None)
    assert body["reason"] == "deny:no-consent"
    assert body["obligations"] == ["audit"]
    assert body["resource_types"] == body["requested_types"] == ["Claim", "Observation"]
    assert body["consent_ref"] == "c9"
    assert "envelope_digest" not in body


def test_basis_names_only_recorded_ids_and_codes_fit_the_ledger() -> None:
    reasons = (ConsentApplied("a"), ConsentApplied("b"), GrantApplied("g"))
    decision = make_decision(Effect.PERMIT, ("Claim",), reasons, (AUDIT,), (), "0" * 64, "v1")
    assert basis_ids(decision, {"a", "g"}) == ["a", "g"]
    assert ledger_code("audit") == "audit"
    long = ledger_code("exclude-code:http://loinc.org|8867-4")
    assert long.startswith("exclude-code:")
    assert len(long) <= 64
