"""schemathesis against a live gateway: every documented operation, valid credentials, bounded
examples; no 5xx, and every answer (status, media type, headers, body) as /openapi.json says.

The gateway is hospital-a of a running two-gateway consortium (real ledger nodes, checkpoints
final), so routes answer from real state rather than 503. Credentials per operation: the first
scheme it lists; a peer assertion is signed afresh for every call (each is single-use).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.auth.peer import make_peer_assertion
from gateway.identity.files import load_private_key
from tests.gateway.audit.harness import Consortium, populate, running_consortium

pytestmark = pytest.mark.e2e

HOSPITAL, PEER = "hospital-a", "insurer-b"
EXAMPLES = 100
"""Per operation and mode: ~27 operations x 2 modes x 100 examples, about half a minute of CPU."""
MIN_EXAMPLES = 5
"""Some operations have few distinct inputs; fewer calls than this on average means none ran."""
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
TOKEN_REFRESH_SECONDS = 120
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]


@dataclass
class Credentials:
    c: Consortium
    tokens: dict[str, tuple[float, str]] = field(default_factory=dict)

    def _cached(self, name: str, make: object) -> str:
        found = self.tokens.get(name)
        if found is None or time.monotonic() - found[0] > TOKEN_REFRESH_SECONDS:
            assert callable(make)
            found = (time.monotonic(), make())
            self.tokens[name] = found
        return found[1]

    def header(self, scheme: str | None) -> dict[str, str]:
        if scheme is None:
            return {}
        if scheme == "smartBackend":
            token = self._cached("client", lambda: self.c.client_token(HOSPITAL))
        elif scheme == "patientBearer":
            token = self._cached("patient", self.c.patient_token)
        else:
            token = make_peer_assertion(
                load_private_key(self.c.root / PEER / "keys" / "signing.key"),
                org=PEER,
                audience=self.c.settings[HOSPITAL].public_url,
                purpose="HPAYMT",
                now=int(time.time()),
            )
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running_consortium(tmp_path_factory.mktemp("fuzz")) as c:
        populate(c)
        c.wait_final(HOSPITAL, 6)
        yield c


@pytest.fixture(scope="module")
def credentials(consortium: Consortium) -> Credentials:
    return Credentials(consortium)


def test_every_operation_answers_as_documented(consortium: Consortium) -> None:
    base_url = consortium.urls[HOSPITAL]
    api = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    credentials = Credentials(consortium)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 25
    calls, runs = 0, 0
    for operation, mode in itertools.product(operations, MODES):
        raw = operation.definition.raw
        if mode is GenerationMode.NEGATIVE and not (raw.get("parameters") or "requestBody" in raw):
            continue  # nothing to make invalid
        runs += 1
        try:
            calls += fuzz(operation, mode, base_url, credentials)
        except Exception as exc:
            exc.add_note(f"operation: {operation.label} ({mode.value} data)")
            raise
    assert calls >= runs * MIN_EXAMPLES


def fuzz(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    base_url: str,
    credentials: Credentials,
) -> int:
    """Run one operation's examples in ``mode``; how many requests were sent."""
    security = operation.definition.raw.get("security") or [{}]
    scheme = next(iter(security[0]), None)
    calls = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: schemathesis.Case) -> None:
        nonlocal calls
        calls += 1
        headers = credentials.header(scheme)
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)

    answers_as_documented()
    return calls
