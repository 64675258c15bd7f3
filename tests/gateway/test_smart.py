"""SMART Backend Services: discovery, the client_credentials token flow, scopes and jti replay."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway.member import ManualClock, Member, client_assertion, new_key, token_form

TOKEN_URL = "http://testserver/auth/token"


def test_smart_configuration(client: httpx.Client) -> None:
    body = client.get("/.well-known/smart-configuration").json()
    assert body["token_endpoint"] == TOKEN_URL
    # client_credentials for backend clients; the patient apps' grants (docs/patient-sign-in.md).
    assert body["grant_types_supported"] == [
        "client_credentials",
        "authorization_code",
        "refresh_token",
    ]
    assert body["token_endpoint_auth_methods_supported"] == ["private_key_jwt", "none"]
    assert body["authorization_endpoint"] == "http://testserver/patient/authorize"
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert "launch-standalone" in body["capabilities"]
    assert body["token_endpoint_auth_signing_alg_values_supported"] == ["ES256", "ES384", "RS384"]
    assert "system/*.read" in body["scopes_supported"]


def test_token_grants_requested_scopes_within_registration(
    client: httpx.Client, member: Member, clock: ManualClock
) -> None:
    assertion = client_assertion(member.client_key, TOKEN_URL, clock.now)
    form = token_form(assertion, "system/Patient.read system/Observation.write user/*.read")
    response = client.post("/auth/token", data=form)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "system/Observation.write system/Patient.read"


def test_access_token_expires(client: httpx.Client, member: Member, clock: ManualClock) -> None:
    assertion = client_assertion(member.client_key, TOKEN_URL, clock.now)
    token = client.post("/auth/token", data=token_form(assertion)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/fhir/Patient", headers=headers).status_code == 200
    clock.now += 300 + 31  # past exp and the 30 s leeway
    assert client.get("/fhir/Patient", headers=headers).status_code == 401


def _refused(response: httpx.Response, status: int = 401, error: str = "invalid_client") -> None:
    """RFC 6749 section 5.2: an OAuth error body, never cached."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert response.headers["cache-control"] == "no-store"


def test_client_assertion_jti_replay_refused(
    client: httpx.Client, member: Member, clock: ManualClock
) -> None:
    assertion = client_assertion(member.client_key, TOKEN_URL, clock.now)
    assert client.post("/auth/token", data=token_form(assertion)).status_code == 200
    _refused(client.post("/auth/token", data=token_form(assertion)))


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_assertion_type": "urn:other"}, 401, "invalid_client"),
        ({"client_assertion": "not.a.jwt"}, 401, "invalid_client"),
        ({"scope": "patient/*.read"}, 400, "invalid_scope"),
    ],
)
def test_bad_token_requests(
    client: httpx.Client,
    member: Member,
    clock: ManualClock,
    change: dict[str, str],
    status: int,
    error: str,
) -> None:
    form = token_form(client_assertion(member.client_key, TOKEN_URL, clock.now)) | change
    _refused(client.post("/auth/token", data=form), status, error)


def test_assertion_checks(client: httpx.Client, member: Member, clock: ManualClock) -> None:
    wrong_aud = client_assertion(member.client_key, "http://testserver/other", clock.now)
    _refused(client.post("/auth/token", data=token_form(wrong_aud)))
    too_long = client_assertion(member.client_key, TOKEN_URL, clock.now, lifetime=600)
    _refused(client.post("/auth/token", data=token_form(too_long)))
    stranger = client_assertion(new_key(), TOKEN_URL, clock.now)
    _refused(client.post("/auth/token", data=token_form(stranger)))
    unknown = client_assertion(member.client_key, TOKEN_URL, clock.now, client_id="nobody")
    _refused(client.post("/auth/token", data=token_form(unknown)))


def test_token_endpoint_needs_a_form(client: httpx.Client) -> None:
    response = client.post("/auth/token", json={"grant_type": "client_credentials"})
    _refused(response, 400, "invalid_request")
    repeated = "grant_type=client_credentials&grant_type=client_credentials"
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    _refused(
        client.post("/auth/token", content=repeated, headers=form_type), 400, "invalid_request"
    )
