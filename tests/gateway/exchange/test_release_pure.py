"""The pure parts of a release: obligations carried out on stored rows, the access.record body."""

from __future__ import annotations

import orjson

from gateway.services.access_record import access_body, basis_ids, ledger_code
from gateway.services.obligations import Row, release_bundle
from policies import Effect, Request
from policies.model import make_decision

BASE = "http://h"


def row(type_: str, id_: str, doc: dict[str, object], date: str | None = None) -> Row:
    return Row(type_, id_, orjson.dumps({"resourceType": type_, "id": id_, **doc}), date)


def release(rows: list[Row], obligations: list[str]) -> dict[str, object]:
    out = release_bundle(
        rows,
        obligations,
        base=BASE,
        referenced_types=frozenset({"Patient"}),
        pseudonym=lambda r: "x",
    )
    return orjson.loads(out)  # type: ignore[no-any-return]


def test_without_data_obligations_stored_bytes_go_verbatim() -> None:
    stored = row("Claim", "c1", {"b": 1})
    out = release_bundle(
        [stored], ["audit"], base=BASE, referenced_types=frozenset(), pseudonym=str
    )
    assert stored.body in out
    assert orjson.loads(out)["total"] == 1


def test_referenced_only_keeps_what_a_claim_references() -> None:
    rows = [
        row("Claim", "c1", {"patient": {"reference": "Patient/p1"}}),
        row("Patient", "p1", {}),
        row("Patient", "p2", {}),
    ]
    bundle = release(rows, ["audit", "referenced-only"])
    assert [e["fullUrl"] for e in bundle["entry"]] == [
        f"{BASE}/fhir/Claim/c1",
        f"{BASE}/fhir/Patient/p1",
    ]  # type: ignore[index, union-attr]


def test_redaction_limits_and_unknown_obligations() -> None:
    labelled = row("Claim", "c1", {"meta": {"security": [{"code": "PSY"}]}}, "2026-01-01")
    plain = row("Claim", "c2", {}, None)
    assert release([labelled, plain], ["redact:PSY"])["total"] == 1
    # A limit keeps only what surely lies in the period: an undated resource is dropped.
    assert release([labelled, plain], ["limit-period:0/.."])["total"] == 1
    assert release([labelled, plain], ["obligation-from-the-future"])["total"] == 0


def test_deidentify_scrubs_the_whole_bundle() -> None:
    person = row("Patient", "p1", {"name": [{"family": "Quarrington"}], "birthDate": "1961-04-17"})
    text = orjson.dumps(release([person], ["deidentify"])).decode()
    assert "Quarrington" not in text
    assert "p1" not in text
    assert '"birthDate":"1961"' in text


def test_access_body_of_a_denial_names_its_cause_and_the_request() -> None:
    request = Request(
        "ins", "insurer", "hosp", "r" * 43, ("Claim", "Observation"), "HPAYMT", consent_ref="c9"
    )
    decision = make_decision(
        Effect.DENY, (), ("deny:no-consent", "policy:x"), ("audit",), (), "0" * 64, "v1"
    )
    body = access_body(request, decision, basis=[], envelope_digest=None)
    assert body["reason"] == "deny:no-consent"
    assert body["resource_types"] == body["requested_types"] == ["Claim", "Observation"]
    assert body["consent_ref"] == "c9"
    assert "envelope_digest" not in body


def test_basis_names_only_recorded_ids_and_codes_fit_the_ledger() -> None:
    decision = make_decision(
        Effect.PERMIT,
        ("Claim",),
        ("consent:a", "consent:b", "grant:g"),
        ("audit",),
        (),
        "0" * 64,
        "v1",
    )
    assert basis_ids(decision, {"a", "g"}) == ["a", "g"]
    assert ledger_code("audit") == "audit"
    long = ledger_code("exclude-code:http://loinc.org|8867-4")
    assert long.startswith("exclude-code:")
    assert len(long) <= 64
