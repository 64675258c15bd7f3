"""Patient sign-in with an invitation code: the full SMART standalone launch (code + PKCE) over a
real socket, and every way a code, verifier, redirect or refresh token can be misused."""

from __future__ import annotations

import logging

import pytest

from gateway.auth import jwt
from gateway.patientauth.server import REUSE_GRACE_SECONDS
from tests.gateway.patientauth.conftest import ALICE, Hospital
from tests.gateway.patientauth.flow import (
    Launch,
    code_with_invitation,
    exchange,
    query_of,
    refresh,
)


def _error(answer: object, status: int, error: str) -> None:
    import httpx

    assert isinstance(answer, httpx.Response)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error, answer.text
    assert answer.headers["cache-control"] == "no-store"


def test_invitation_code_signs_in_with_pkce_and_refreshes(hospital: Hospital) -> None:
    public = hospital.settings.public_url
    launch = Launch.new(public)
    code = code_with_invitation(hospital.http, launch, hospital.invite())
    answer = exchange(hospital.http, launch, code)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == hospital.settings.patient_auth.access_seconds
    assert "patient/*.read" in body["scope"].split()
    claims = jwt.parse(body["access_token"]).claims
    assert claims["aud"] == f"{public}/patient"
    assert claims["azp"] == "medgate-portal"
    assert claims["sub"] == body["patient_ref"] == body["patient"]
    assert claims["exp"] - claims["iat"] == body["expires_in"]

    renewed = refresh(hospital.http, body["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    again = renewed.json()
    assert again["refresh_token"] != body["refresh_token"]
    assert again["patient_ref"] == body["patient_ref"]
    assert jwt.parse(again["access_token"]).claims["sub"] == body["patient_ref"]


def test_the_backend_token_endpoint_takes_the_same_grants(hospital: Hospital) -> None:
    launch = Launch.new(hospital.settings.public_url)
    code = code_with_invitation(hospital.http, launch, hospital.invite())
    form = {
        "grant_type": "authorization_code",
        "client_id": launch.client_id,
        "code": code,
        "redirect_uri": launch.redirect_uri,
        "code_verifier": launch.verifier,
    }
    answer = hospital.http.post("/auth/token", data=form)
    assert answer.status_code == 200, answer.text
    assert answer.json()["refresh_token"]


def test_a_code_is_single_use_and_its_reuse_ends_the_session(hospital: Hospital) -> None:
    launch = Launch.new(hospital.settings.public_url)
    code = code_with_invitation(hospital.http, launch, hospital.invite())
    first = exchange(hospital.http, launch, code)
    assert first.status_code == 200
    _error(exchange(hospital.http, launch, code), 400, "invalid_grant")
    # The session the code started is revoked: its refresh token no longer works.
    _error(refresh(hospital.http, first.json()["refresh_token"]), 400, "invalid_grant")


def test_wrong_verifier_redirect_client_and_expired_codes_are_refused(hospital: Hospital) -> None:
    http, public = hospital.http, hospital.settings.public_url
    cases = [
        {"code_verifier": "x" * 64},
        {"code_verifier": ""},
        {"redirect_uri": f"{public}/portal/other"},
        {"redirect_uri": ""},
    ]
    for override in cases:
        launch = Launch.new(public)
        code = code_with_invitation(http, launch, hospital.invite())
        _error(exchange(http, launch, code, **override), 400, "invalid_grant")
        # Burnt by the failed attempt: the right verifier cannot use it either.
        _error(exchange(http, launch, code), 400, "invalid_grant")

    launch = Launch.new(public)
    code = code_with_invitation(http, launch, hospital.invite())
    _error(exchange(http, launch, code, client_id="someone-else"), 401, "invalid_client")

    launch = Launch.new(public)
    code = code_with_invitation(http, launch, hospital.invite())
    hospital.clock.now += hospital.settings.patient_auth.code_seconds
    _error(exchange(http, launch, code), 400, "invalid_grant")
    _error(exchange(http, launch, "not-a-code"), 400, "invalid_grant")
    unsupported = http.post("/patient/oauth/token", data={"grant_type": "password"})
    _error(unsupported, 400, "unsupported_grant_type")


def test_a_replayed_refresh_token_revokes_the_session(hospital: Hospital) -> None:
    launch = Launch.new(hospital.settings.public_url)
    code = code_with_invitation(hospital.http, launch, hospital.invite())
    first = exchange(hospital.http, launch, code).json()
    second = refresh(hospital.http, first["refresh_token"])
    assert second.status_code == 200
    # The first refresh token again after the grace window (a thief's copy, or the app's):
    # refused, and the session ends.
    hospital.clock.now += REUSE_GRACE_SECONDS + 1
    _error(refresh(hospital.http, first["refresh_token"]), 400, "invalid_grant")
    _error(refresh(hospital.http, second.json()["refresh_token"]), 400, "invalid_grant")


def test_revocation_and_session_end(hospital: Hospital) -> None:
    http = hospital.http
    launch = Launch.new(hospital.settings.public_url)
    tokens = exchange(http, launch, code_with_invitation(http, launch, hospital.invite())).json()
    revoked = http.post(
        "/patient/oauth/revoke",
        data={"token": tokens["refresh_token"], "client_id": launch.client_id},
    )
    assert revoked.status_code == 200
    _error(refresh(http, tokens["refresh_token"]), 400, "invalid_grant")

    launch = Launch.new(hospital.settings.public_url)
    tokens = exchange(http, launch, code_with_invitation(http, launch, hospital.invite())).json()
    hospital.clock.now += hospital.settings.patient_auth.refresh_seconds
    _error(refresh(http, tokens["refresh_token"]), 400, "invalid_grant")


def test_authorization_requests_are_checked(hospital: Hospital) -> None:
    http, public = hospital.http, hospital.settings.public_url
    launch = Launch.new(public)
    # Unknown client or redirect: never redirected to, an OperationOutcome instead.
    for bad in ({"client_id": "evil"}, {"redirect_uri": "https://evil.example/cb"}):
        answer = http.get("/patient/authorize", params=launch.params(**bad))
        assert answer.status_code == 400, answer.text
        assert answer.json()["resourceType"] == "OperationOutcome"
    # Anything else goes back to the app with error and state.
    for bad, error in (
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid"}, "invalid_scope"),
        ({"aud": "https://another.example"}, "invalid_request"),
    ):
        answer = http.get("/patient/authorize", params=launch.params(**bad))
        assert answer.status_code == 302, answer.text
        back = query_of(answer.headers["location"])
        assert back["error"] == error
        assert back["state"] == launch.state
        assert answer.headers["location"].startswith(launch.redirect_uri + "?")
    page = http.get("/patient/authorize", params=launch.params(aud=public))
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert '<label for="code">' in page.text


def test_an_invitation_is_single_use_and_expires(hospital: Hospital) -> None:
    http, public = hospital.http, hospital.settings.public_url
    invitation = hospital.invite()
    code_with_invitation(http, Launch.new(public), invitation)
    launch = Launch.new(public)
    from tests.gateway.patientauth.flow import authorize

    again = http.post(
        "/patient/authorize/invitation",
        data={"request": authorize(http, launch), "code": invitation},
    )
    assert again.status_code == 401, again.text
    assert again.json()["resourceType"] == "OperationOutcome"

    late = hospital.invite()
    hospital.clock.now += hospital.settings.patient_auth.invitation_seconds
    refused = http.post(
        "/patient/authorize/invitation",
        data={"request": authorize(http, Launch.new(public)), "code": late},
    )
    assert refused.status_code == 401, refused.text


def test_a_browser_is_shown_the_page_again_with_the_problem(hospital: Hospital) -> None:
    from tests.gateway.patientauth.flow import authorize

    launch = Launch.new(hospital.settings.public_url)
    answer = hospital.http.post(
        "/patient/authorize/invitation",
        data={"request": authorize(hospital.http, launch), "code": "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"},
        headers={"Accept": "text/html"},
    )
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in answer.text
    assert 'name="request"' in answer.text  # the form again, to retype the code


def test_no_secret_of_the_flow_reaches_a_log_line(
    hospital: Hospital, caplog: pytest.LogCaptureFixture
) -> None:
    launch = Launch.new(hospital.settings.public_url)
    invitation = hospital.invite()
    with caplog.at_level(logging.DEBUG):
        code = code_with_invitation(hospital.http, launch, invitation)
        tokens = exchange(hospital.http, launch, code).json()
        renewed = refresh(hospital.http, tokens["refresh_token"]).json()
    # The gateway's records (the test's own HTTP client logs its URLs: not the gateway's).
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in server_side)
    assert "/patient/oauth/token" in logged  # the request lines are there...
    secrets_seen = [invitation, invitation.replace("-", ""), code, launch.verifier, launch.state]
    secrets_seen += [tokens["access_token"], tokens["refresh_token"], renewed["refresh_token"]]
    for secret in secrets_seen:
        assert secret not in logged  # ...without any secret of the flow
    assert ALICE not in logged
