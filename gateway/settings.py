"""Typed, frozen settings of one member gateway: its TOML config file, then MEDGATE_* env vars.

``Settings.load(path)`` reads the file written by ``medgate init``, lets the environment override
any field (``MEDGATE_SERVER__PORT=9000``), resolves relative paths against the file's folder, and
refuses missing key files and placeholder secrets with a ConfigError naming the field.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url

from gateway.errors import ConfigError

PLACEHOLDERS = frozenset({"changethis", "changeme", "password", "secret", "postgres", "example"})
"""Values a human types when they mean 'fill in later': never acceptable as a secret."""

_KEY_FIELDS_ALL = (
    "signing_key",
    "encryption_key",
    "ca_cert",
    "ca_key",
    "cert",
    "patient_key",
    "genesis",
    "token_key",
)


class Role(enum.StrEnum):
    HOSPITAL = "hospital"
    INSURER = "insurer"
    AGENCY = "agency"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class ServerSettings(_Frozen):
    host: str = "127.0.0.1"
    """Address the HTTP server binds (127.0.0.1: this machine only; 0.0.0.0: every interface)."""
    port: int = Field(8401, ge=1, le=65535)
    """TCP port of the HTTP server; `medgate serve` exits 3 when it is taken."""
    max_body_bytes: int = Field(20 * 1024 * 1024, gt=0)
    """Largest request body accepted; larger ones are refused with 413 before being read."""
    tls_cert: Path | None = None
    """The HTTPS server certificate (PEM, issued by the organisation CA for the public host);
    with `tls_key`, `medgate serve` speaks HTTPS (see docs/deployment.md)."""
    tls_key: Path | None = None
    """The private key of `tls_cert` (0600)."""
    allow_plain_http: bool = False
    """Serve and call peers over plain HTTP: only for a one-machine loopback consortium (`medgate
    init` and `demo` write it). Without it, `medgate serve` refuses an http:// `public_url` or
    missing TLS files, and peers at http:// endpoints are refused."""
    peer_requests_per_s: float = Field(1000.0, ge=0)
    """Requests per second each peer member may send this process, sustained (0: no limit); past
    it the peer gets 429 with Retry-After. Each replica counts its own traffic."""
    peer_burst: int = Field(2000, ge=1)
    """Requests a peer may send at once above the sustained rate."""


class StorageSettings(_Frozen):
    url: str = "sqlite:///data/gateway.db"
    """The member's FHIR store and evidence archive (SQLAlchemy URL: SQLite or PostgreSQL)."""
    ledger_url: str = "sqlite:///data/ledger.db"
    """This member's replica of the ledger (blocks, entries, Merkle nodes, derived state)."""
    watermark: Path = Path("data/ledger-watermark.json")
    """The rollback guard's record of the last checkpoints this member signed
    (gateway.services.watermark): keep it off the database's volume and out of its backups."""


class OrderingSettings(_Frozen):
    backend: Literal["solo", "nats"] = "solo"
    """`solo`: one machine's shared file; `nats`: the consortium's JetStream cluster."""
    solo_path: Path = Path("../consortium/ordering.db")
    """The solo ordering log every gateway of this machine shares (backend `solo`)."""
    nats_servers: tuple[str, ...] = ()
    """NATS server URLs of the consortium's cluster (backend `nats`)."""
    nats_tls_ca: Path | None = None
    """The bundle of every member's organisation CA (PEM): the NATS servers' certificates must
    chain to one of them. Setting it turns TLS on for the NATS connection."""
    nats_tls_cert: Path | None = None
    """This gateway's NATS client certificate (from the organisation CA; its subject is the
    NATS user the servers map it to)."""
    nats_tls_key: Path | None = None
    """The private key of `nats_tls_cert` (0600)."""
    max_view_age_s: float = Field(5.0, gt=0)
    """Bounded staleness: releases are refused (503) once this gateway last confirmed, longer ago
    than this, that it had committed everything the ordering service holds (a revocation may be in
    a block it has not seen). `/readyz` and `medgate_ledger_view_age_seconds` show the age."""


class KeySettings(_Frozen):
    signing_key: Path = Path("keys/signing.key")
    """P-256 key signing ledger entries, checkpoints, peer assertions and envelopes (0600)."""
    encryption_key: Path = Path("keys/encryption.jwk.json")
    """Private JWK that opens envelopes sealed for this member (0600)."""
    ca_cert: Path = Path("keys/ca.pem")
    """The organisation CA certificate (public; its chain is on the ledger)."""
    ca_key: Path = Path("keys/ca.key")
    """The organisation CA's private key (0600; keep it offline once certificates are issued)."""
    cert: Path = Path("keys/signing.pem")
    """Certificate of the signing key, issued by the organisation CA (public)."""
    patient_key: Path = Path("keys/patient.key")
    """The consortium's shared 32-byte patient-pseudonym key, base64url (0600; never on the ledger)."""
    genesis: Path = Path("../consortium/genesis.json")
    """The consortium's genesis entry, signed by every founder (public)."""
    token_key: Path = Path("keys/token.key")
    """P-256 key signing this gateway's SMART access tokens and patient tokens (0600)."""
    rotation_overlap_seconds: int = Field(900, ge=0, le=7 * 24 * 3600)
    """How long after a key retired what it signed is still accepted: peer assertions under a
    member's retired signing key (from the retiring entry's ts on the ledger) and tokens under this
    gateway's retired token key (see docs/key-rotation.md). At least the longest token lifetime."""


class ClientSettings(_Frozen):
    """A SMART Backend Services client registered with this gateway: its public keys as a JWKS
    file (``jwks_path``, read at start) or a JWKS URL (``jwks_url``, fetched when a kid is first
    seen: see gateway.auth.jwks), exactly one of the two."""

    client_id: str = Field(min_length=1, max_length=128)
    """The client's `iss`/`sub` in its client assertions."""
    jwks_path: Path | None = None
    """The client's public keys (JWKS file, read at start) that verify its client assertions."""
    jwks_url: str | None = Field(None, pattern=r"^https?://[^\s#]+$", max_length=2048)
    """Or a URL serving that JWKS (fetched with a timeout and a size cap, cached by kid)."""
    scopes: tuple[str, ...] = ()
    """The most this client may be granted (`system/<type>.<read|write|*>`)."""

    @model_validator(mode="after")
    def _one_key_source(self) -> ClientSettings:
        if (self.jwks_path is None) == (self.jwks_url is None):
            raise ValueError("give exactly one of jwks_path and jwks_url")
        return self


class NotificationSettings(_Frozen):
    smtp_host: str | None = None
    """SMTP server that forwards patient notifications by e-mail (none: no e-mail is sent)."""
    smtp_port: int = Field(25, ge=1, le=65535)
    """Its TCP port."""
    smtp_starttls: bool = False
    """Upgrade the SMTP connection with STARTTLS before authenticating or sending."""
    smtp_username: str | None = None
    """SMTP login, when the server needs one (the password: `MEDGATE_NOTIFICATIONS__SMTP_PASSWORD`)."""
    smtp_password: str | None = None
    """SMTP password; set it through the environment, not the config file."""
    mail_from: str = "medgate@localhost"
    """The `From` address of notification e-mails."""
    webhook_url: str | None = Field(None, pattern=r"^https?://[^\s#]+$", max_length=2048)
    """URL that receives each notification as a JSON POST (none: no webhook)."""
    max_attempts: int = Field(5, ge=1, le=20)
    """Delivery attempts per notification and channel before it is given up (recorded)."""
    backoff_seconds: float = Field(30.0, gt=0, le=86400)
    """Wait before the second attempt; doubles after each failure."""
    poll_seconds: float = Field(5.0, gt=0, le=3600)
    """How often the forwarder looks for notifications to deliver."""
    timeout_seconds: float = Field(10.0, gt=0, le=300)
    """Timeout of one SMTP or webhook attempt."""


class PatientClientSettings(_Frozen):
    """A public client of patient sign-in (SMART App Launch, code + PKCE, no secret)."""

    client_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")
    """The app's `client_id` in authorization and token requests."""
    redirect_uris: tuple[str, ...] = Field(min_length=1)
    """Exact redirect URIs the app may name (compared character for character)."""


class OidcSettings(_Frozen):
    """OpenID Connect federation to the hospital's own identity provider (gateway as relying
    party). The patient's identifier is the ID token's ``claim``, in ``identifier_system``."""

    issuer: str = Field(pattern=r"^https?://[^\s?#]+$", max_length=2048)
    """The IdP's issuer URL (its `/.well-known/openid-configuration` is read from it)."""
    client_id: str = Field(min_length=1, max_length=256)
    """This gateway's client id at the IdP."""
    client_secret_path: Path
    """File holding this gateway's client secret at the IdP (0600): the gateway is a
    confidential client (client_secret_basic), and uses PKCE as well."""
    scope: str = "openid"
    """Scopes asked of the IdP (must include `openid`)."""
    claim: str = Field("sub", min_length=1, max_length=128)
    """The ID token claim whose value is the patient's identifier value (e.g. `sub`, `mrn`)."""
    identifier_system: str = Field(min_length=1, max_length=256)
    """The identifier system the claim's value belongs to (e.g. the hospital's MRN system)."""
    label: str = "Sign in with the hospital account"
    """The button's text on the sign-in page."""


class PatientAuthSettings(_Frozen):
    """Patient sign-in: this gateway as the patient's authorisation server (docs/patient-sign-in.md)."""

    authenticators: tuple[Literal["invitation", "oidc"], ...] = ("invitation",)
    """Authenticators offered on the sign-in page (`oidc` needs the `oidc` table)."""
    access_seconds: int = Field(300, ge=30, le=900)
    """Lifetime of a signed-in patient's access token."""
    refresh_seconds: int = Field(8 * 3600, ge=60, le=30 * 86400)
    """Lifetime of a session's refresh tokens (each is single use; a new one comes with each refresh)."""
    code_seconds: int = Field(60, ge=10, le=600)
    """Lifetime of an authorization code (single use)."""
    invitation_seconds: int = Field(7 * 86400, ge=60, le=90 * 86400)
    """Lifetime of an invitation code printed by `medgate patient invite`."""
    max_failures: int = Field(5, ge=1, le=100)
    """Wrong sign-in attempts allowed per client address (and per invitation) before lockout."""
    lockout_seconds: int = Field(900, ge=1, le=86400)
    """How long a client address stays locked out after `max_failures` wrong attempts."""
    clients: tuple[PatientClientSettings, ...] = ()
    """Public clients besides the portal (`medgate-portal`, redirect `<public_url>/portal`)."""
    oidc: OidcSettings | None = None
    """OpenID Connect federation to the hospital's IdP (for the `oidc` authenticator)."""

    @model_validator(mode="after")
    def _oidc_configured(self) -> PatientAuthSettings:
        if "oidc" in self.authenticators and self.oidc is None:
            raise ValueError("the oidc authenticator needs a [patient_auth.oidc] table")
        return self


class Settings(BaseSettings):
    """One member gateway's configuration; relative paths resolve against ``config_dir``."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix="MEDGATE_",
        env_nested_delimiter="__",
        use_attribute_docstrings=True,
    )

    config_dir: Path
    """The folder of medgate.toml (set by the loader; relative paths resolve against it)."""
    org: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    """This member's id in the consortium."""
    role: Role
    """This member's role: hospital, insurer or agency (the policy's rules are per role)."""
    consortium: str = Field(pattern=r"^[0-9a-f]{64}$")
    """The consortium id: the genesis entry's tx id."""
    public_url: str
    """The URL peers and clients reach this gateway at: the `aud` of assertions and tokens."""
    server: ServerSettings = ServerSettings()
    """The HTTP server."""
    storage: StorageSettings = StorageSettings()
    """The member's databases."""
    ordering: OrderingSettings = OrderingSettings()
    """The consortium's ordering service."""
    keys: KeySettings = KeySettings()
    """Key and certificate files written by `medgate init`."""
    clients: tuple[ClientSettings, ...] = ()
    """SMART Backend Services clients registered with this gateway (`[[clients]]` tables)."""
    notifications: NotificationSettings = NotificationSettings()
    """Forwarding of patient notifications (break-glass, notify-patient) by e-mail or webhook."""
    patient_auth: PatientAuthSettings = PatientAuthSettings()
    """Patient sign-in (authorization code + PKCE, invitation codes, OIDC federation)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file arrives as init kwargs; the environment must win over it.
        return (env_settings, init_settings)

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("public_url must be an http(s) URL without query or fragment")
        return value.rstrip("/")

    @model_validator(mode="before")
    @classmethod
    def _resolve_paths(cls, data: Any) -> Any:
        if isinstance(data, dict) and "config_dir" in data:
            return _resolved(dict(data), Path(data["config_dir"]))
        return data

    @property
    def ledger_store_url(self) -> str:
        """The ledger store's SQLAlchemy URL (relative SQLite paths already resolved)."""
        return self.storage.ledger_url

    @classmethod
    def load(cls, path: Path) -> Settings:
        """Read ``path`` (TOML), apply env overrides, check key files. Raises ConfigError."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(str(path), f"cannot read config: {exc}") from exc
        try:
            settings = cls(config_dir=path.resolve().parent, **data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(map(str, first["loc"]))
            raise ConfigError(field, f"{first['msg']} ({exc.error_count()} problem(s))") from exc
        check_secrets(settings)
        return settings


def _resolved(data: dict[str, Any], base: Path) -> dict[str, Any]:
    keys = dict(data.get("keys") or {})
    for name in _KEY_FIELDS_ALL:
        keys[name] = base / Path(keys.get(name) or getattr(KeySettings(), name))
    data["keys"] = keys
    ordering = dict(data.get("ordering") or {})
    ordering["solo_path"] = base / Path(ordering.get("solo_path") or OrderingSettings().solo_path)
    data["ordering"] = ordering
    storage = dict(data.get("storage") or {})
    for name in ("url", "ledger_url"):
        storage[name] = _sqlite_absolute(
            storage.get(name) or getattr(StorageSettings(), name), base
        )
    storage["watermark"] = base / Path(storage.get("watermark") or StorageSettings().watermark)
    data["storage"] = storage
    _resolve_optional(ordering, ("nats_tls_ca", "nats_tls_cert", "nats_tls_key"), base)
    server = dict(data.get("server") or {})
    _resolve_optional(server, ("tls_cert", "tls_key"), base)
    data["server"] = server
    clients = data.get("clients") or ()
    data["clients"] = [_client_resolved(c, base) for c in clients]
    data["patient_auth"] = _patient_auth_resolved(data.get("patient_auth"), base)
    return data


def _resolve_optional(section: dict[str, Any], names: tuple[str, ...], base: Path) -> None:
    """Optional paths of ``section``, when set, resolve against the config's folder."""
    for name in names:
        if section.get(name):
            section[name] = base / Path(section[name])


def _patient_auth_resolved(section: Any, base: Path) -> Any:
    if not isinstance(section, dict) or not isinstance(section.get("oidc"), dict):
        return section if section is not None else {}
    oidc = dict(section["oidc"])
    if oidc.get("client_secret_path"):
        oidc["client_secret_path"] = base / Path(oidc["client_secret_path"])
    return {**section, "oidc": oidc}


def _client_resolved(client: Any, base: Path) -> Any:
    if isinstance(client, dict) and "jwks_path" in client:
        return {**client, "jwks_path": base / Path(client["jwks_path"])}
    return client


def _sqlite_absolute(url: str, base: Path) -> str:
    """A relative SQLite path resolves against the config's folder; other URLs are left alone."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return url
    if parsed.database == ":memory:" or Path(parsed.database).is_absolute():
        return url
    return parsed.set(database=str(base / parsed.database)).render_as_string(hide_password=False)


def check_secrets(settings: Settings) -> None:
    """Refuse missing key files, a placeholder patient key and placeholder database passwords."""
    for name in _KEY_FIELDS_ALL:
        if name == "ca_key":
            continue  # the gateway never reads it: a production host keeps the CA key offline
        path: Path = getattr(settings.keys, name)
        if not path.is_file():
            raise ConfigError(f"keys.{name}", f"key file missing: {path}")
    for client in settings.clients:
        if client.jwks_path is not None and not client.jwks_path.is_file():
            raise ConfigError(f"clients.{client.client_id}", f"JWKS missing: {client.jwks_path}")
    _check_patient_key(settings.keys.patient_key)
    oidc = settings.patient_auth.oidc
    if oidc is not None and not oidc.client_secret_path.is_file():
        raise ConfigError("patient_auth.oidc.client_secret_path", "file missing")
    for name in ("url", "ledger_url"):
        password = make_url(getattr(settings.storage, name)).password
        if password is not None and str(password).lower() in PLACEHOLDERS:
            raise ConfigError(f"storage.{name}", "the database password is a placeholder")


def _check_patient_key(path: Path) -> None:
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if text.lower() in PLACEHOLDERS:
        raise ConfigError("keys.patient_key", "the patient key is a placeholder")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("keys.patient_key", "not base64url") from exc
    if len(raw) != 32:
        raise ConfigError("keys.patient_key", "must be 32 bytes")
    if len(set(raw)) < 4:
        # A key of one repeated byte (all zeros, ...) is a placeholder, not randomness.
        raise ConfigError("keys.patient_key", "the patient key is a placeholder")
