"""Patient tokens, the metrics exposition and the JSON log formatter, in isolation."""

from __future__ import annotations

import json
import logging
import secrets
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth.replay import MemoryReplayCache
from gateway.auth.smart import Client, TokenService
from gateway.errors import AuthError
from gateway.services.jsonlog import JsonFormatter
from gateway.services.metrics import Metrics, Sample
from gateway.services.patient_tokens import PATIENT_TOKEN_SECONDS, PatientTokens
from ledger.ids import PatientRef

URL = "https://hospital.example"
NOW = 1_800_000_000
REF = PatientRef("r" * 43)


def tokens(key: ec.EllipticCurvePrivateKey | None = None) -> PatientTokens:
    key = key or ec.generate_private_key(ec.SECP256R1())
    return PatientTokens(URL, key, secrets.token_bytes(32))


def test_a_patient_token_names_its_patient_until_it_expires() -> None:
    service = tokens()
    issued = service.issue(REF, NOW)
    assert service.check(issued.access_token, NOW + 10) == REF
    with pytest.raises(AuthError):
        service.check(issued.access_token, NOW + PATIENT_TOKEN_SECONDS + 60)
    with pytest.raises(AuthError):
        tokens().check(issued.access_token, NOW)  # another gateway's key


def test_patient_tokens_and_access_tokens_never_pass_for_each_other() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    patient = tokens(key)
    smart = TokenService(
        public_url=URL,
        clients={"ehr": Client("ehr", {}, ("system/*.read",))},
        token_key=key,
        replay=MemoryReplayCache(),
    )
    with pytest.raises(AuthError):
        smart.check(patient.issue(REF, NOW).access_token, NOW)


def test_the_pseudonym_depends_on_the_consortium_key() -> None:
    a, b = tokens(), tokens()
    assert a.patient_ref("urn:x", "1") == a.patient_ref("urn:x", "1")
    assert a.patient_ref("urn:x", "1") != b.patient_ref("urn:x", "1")
    assert a.patient_ref("urn:x", "1") != a.patient_ref("urn:x", "2")


def test_the_exposition_groups_samples_and_escapes_labels() -> None:
    metrics = Metrics()
    metrics.inc("medgate_decisions_total", {"effect": "permit"})
    metrics.inc("medgate_decisions_total", {"effect": "permit"})
    metrics.inc("medgate_decisions_total", {"effect": "deny"})
    text = metrics.render([Sample("custom_total", (("v", 'a"b\\c\n'),), 1.5)])
    lines = text.splitlines()
    assert 'medgate_decisions_total{effect="permit"} 2' in lines
    assert 'medgate_decisions_total{effect="deny"} 1' in lines
    assert lines.count("# TYPE medgate_decisions_total counter") == 1
    assert 'custom_total{v="a\\"b\\\\c\\n"} 1.5' in lines
    assert metrics.value("medgate_decisions_total", {"effect": "deny"}) == 1


def test_log_lines_are_json_with_extras_and_no_exception_message() -> None:
    logger = logging.getLogger("medgate.test")
    try:
        raise ValueError("MRN-12345 Jane Doe")  # a library echoing a value it choked on
    except ValueError:
        record = logger.makeRecord(
            "medgate.test",
            logging.ERROR,
            __file__,
            1,
            "checkpoint refused",
            (),
            exc_info=sys.exc_info(),
            extra={"height": 7, "orgs": ("a", "b")},
        )
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data["message"] == "checkpoint refused"
    assert data["level"] == "error"
    assert data["height"] == 7
    assert data["orgs"] == ["a", "b"]
    assert data["exception"]["type"] == "ValueError"
    assert "MRN-12345" not in line
    assert "Jane" not in line
    assert data["ts"].endswith("Z")
