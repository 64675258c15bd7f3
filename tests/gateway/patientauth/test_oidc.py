"""OpenID Connect federation: the gateway as relying party of a real OIDC provider started on
loopback; the IdP's ``mrn`` claim names the patient; the app then finishes with code + PKCE."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import httpx
import pytest

from gateway.auth import jwt
from gateway.errors import ConfigError
from gateway.identity.pseudonym import load_patient_key, patient_ref
from gateway.settings import Settings
from tests.gateway.member import Member
from tests.gateway.patientauth.conftest import ALICE, MRN_SYSTEM, Hospital
from tests.gateway.patientauth.flow import Launch, authorize, exchange, query_of
from tests.gateway.patientauth.idp import User, running_idp

# The provider (a test dependency) calls an authlib hook authlib deprecates, inside its requests.
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")

USERS = [
    User(sub="alice@hospital", claims={"mrn": ALICE}),
    User(sub="stranger@hospital", claims={"mrn": "MRN-NOT-HERE"}),
    User(sub="no-mrn@hospital", claims={}),
]


def _settings(issuer: str, client_id: str, secret_line: str) -> str:
    return f"""
[patient_auth]
authenticators = ["invitation", "oidc"]
[patient_auth.oidc]
issuer = "{issuer}"
client_id = "{client_id}"
{secret_line}
claim = "mrn"
identifier_system = "{MRN_SYSTEM}"
label = "Sign in with your hospital account"
"""


@pytest.fixture
def federated(hospital_with: Callable[[str], Hospital], member: Member) -> Iterator[Hospital]:
    """The gateway as a confidential client of the IdP (client_secret_basic; the provider
    accepts an unregistered client id with any secret)."""
    secret = member.config.parent / "keys" / "idp-client.secret"
    secret.write_text(secrets.token_urlsafe(32), encoding="utf-8")
    secret.chmod(0o600)
    with running_idp(USERS) as issuer:
        line = 'client_secret_path = "keys/idp-client.secret"'
        yield hospital_with(_settings(issuer, "medgate-hospital-a", line))


def _at_idp(http: httpx.Client, launch: Launch, user: str) -> httpx.Response:
    """Start the OIDC sign-in, log in at the IdP as ``user``; the IdP's redirect back."""
    handle = authorize(http, launch)
    start = http.post("/patient/authorize/oidc", data={"request": handle})
    assert start.status_code == 303, start.text
    idp_url = start.headers["location"]
    params = query_of(idp_url)
    assert params["code_challenge_method"] == "S256"
    assert params["nonce"]
    with httpx.Client(timeout=30) as browser:
        form = browser.get(idp_url)
        assert form.status_code == 200, form.text
        back = browser.post(idp_url, data={"sub": user})
    assert back.status_code == 302, back.text
    return back


def _callback(http: httpx.Client, back: httpx.Response) -> httpx.Response:
    params = query_of(back.headers["location"])
    return http.get("/patient/oidc/callback", params=params)


def test_sign_in_through_the_hospital_idp(federated: Hospital) -> None:
    http, public = federated.http, federated.settings.public_url
    launch = Launch.new(public)
    page = http.get("/patient/authorize", params=launch.params())
    assert "Sign in with your hospital account" in page.text
    back = _at_idp(http, launch, "alice@hospital")
    assert back.headers["location"].startswith(f"{public}/patient/oidc/callback?")
    done = _callback(http, back)
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith(launch.redirect_uri + "?")
    code = query_of(done.headers["location"])
    assert code["state"] == launch.state
    tokens = exchange(http, launch, code["code"])
    assert tokens.status_code == 200, tokens.text
    key = load_patient_key(federated.settings.keys.patient_key.read_bytes())
    claims = jwt.parse(tokens.json()["access_token"]).claims
    assert claims["sub"] == patient_ref(key, MRN_SYSTEM, ALICE)
    assert claims["azp"] == "medgate-portal"
    # The state was spent: the same IdP answer cannot be used twice.
    assert _callback(http, back).status_code == 401


def test_the_idp_answer_is_bound_to_this_browser(federated: Hospital) -> None:
    http = federated.http
    back = _at_idp(http, Launch.new(federated.settings.public_url), "alice@hospital")
    with httpx.Client(base_url=str(http.base_url), timeout=30) as elsewhere:
        stolen = elsewhere.get("/patient/oidc/callback", params=query_of(back.headers["location"]))
    assert stolen.status_code == 401, stolen.text
    assert stolen.json()["resourceType"] == "OperationOutcome"


def test_unknown_or_unmapped_patients_are_refused(federated: Hospital) -> None:
    http, public = federated.http, federated.settings.public_url
    stranger = _callback(http, _at_idp(http, Launch.new(public), "stranger@hospital"))
    assert stranger.status_code == 400, stranger.text
    assert "holds no record" in stranger.json()["issue"][0]["diagnostics"]
    unmapped = _callback(http, _at_idp(http, Launch.new(public), "no-mrn@hospital"))
    assert unmapped.status_code == 401, unmapped.text
    forged = http.get("/patient/oidc/callback", params={"code": "x", "state": "y"})
    assert forged.status_code == 401


def test_a_missing_idp_secret_is_refused_at_load(member: Member) -> None:
    with member.config.open("a", encoding="utf-8") as out:
        out.write(_settings("https://idp.example", "gw", 'client_secret_path = "keys/none"'))
    with pytest.raises(ConfigError) as refused:
        Settings.load(member.config)
    assert refused.value.field == "patient_auth.oidc.client_secret_path"
