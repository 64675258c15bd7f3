"""Patient sign-in, assembled: settings, tables, authenticators, the authorisation server, and
the check that the hospital holds the patient. Built once per app (gateway.api.patient_auth)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.engine import Engine

from gateway.patientauth.authenticators import Authenticator, enabled
from gateway.patientauth.guessing import GuessLimiter
from gateway.patientauth.invitations import Invitations
from gateway.patientauth.oidc import OidcFederation
from gateway.patientauth.requests import PublicClient, RequestHandles
from gateway.patientauth.server import Lifetimes, PatientAuthServer
from gateway.patientauth.tables import SignInTables
from gateway.services.patient_tokens import PatientTokens
from gateway.settings import Settings
from ledger.ids import PatientRef

PORTAL_CLIENT_ID = "medgate-portal"
PORTAL_PATH = "/portal"


class PatientLookup(Protocol):
    """The custodian's patient index (gateway.services.patients.PatientIndex)."""

    def local_ids(self, ref: str) -> tuple[str, ...]: ...


def public_clients(settings: Settings) -> dict[str, PublicClient]:
    """The portal (redirect ``<public_url>/portal``) and the configured patient apps."""
    portal = PublicClient(PORTAL_CLIENT_ID, (f"{settings.public_url}{PORTAL_PATH}",))
    clients = {portal.client_id: portal}
    for c in settings.patient_auth.clients:
        clients[c.client_id] = PublicClient(c.client_id, c.redirect_uris)
    return clients


@dataclass(frozen=True, slots=True)
class PatientSignIn:
    org: str
    handles: RequestHandles
    server: PatientAuthServer
    invitations: Invitations
    authenticators: tuple[Authenticator, ...]
    oidc: OidcFederation | None
    patients: PatientLookup
    tokens: PatientTokens
    audiences: tuple[str, ...]

    def holds(self, ref: PatientRef) -> bool:
        """Whether this hospital stores a Patient with an identifier hashing to ``ref``."""
        return bool(self.patients.local_ids(ref))

    def redirect_targets(self) -> tuple[str, ...]:
        """Where a sign-in form's submission may end up (the page's CSP form-action): the apps'
        redirect URIs and, with OIDC, the IdP (its authorization endpoint is on the issuer's
        origin)."""
        apps = tuple(u for c in self.server.clients.values() for u in c.redirect_uris)
        return apps if self.oidc is None else (*apps, self.oidc.settings.issuer)


def open_sign_in(
    settings: Settings,
    engine: Engine,
    patients: PatientLookup,
    tokens: PatientTokens,
    token_key: ec.EllipticCurvePrivateKey,
) -> PatientSignIn:
    """Sign-in for the member of ``settings``, its state on ``engine`` (the member's store)."""
    conf = settings.patient_auth
    tables = SignInTables(engine)
    limiter = GuessLimiter(tables, conf.max_failures, conf.lockout_seconds)
    lifetimes = Lifetimes(conf.code_seconds, conf.access_seconds, conf.refresh_seconds)
    oidc = None
    if "oidc" in conf.authenticators and conf.oidc is not None:
        oidc = OidcFederation(conf.oidc, settings.public_url, tables)
    return PatientSignIn(
        org=settings.org,
        handles=RequestHandles(settings.public_url, token_key),
        server=PatientAuthServer(tables, tokens, public_clients(settings), lifetimes),
        invitations=Invitations(tables, limiter, conf.invitation_seconds, conf.max_failures),
        authenticators=enabled(conf),
        oidc=oidc,
        patients=patients,
        tokens=tokens,
        audiences=(
            settings.public_url,
            f"{settings.public_url}/patient",
            f"{settings.public_url}/fhir",
        ),
    )
