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
    return data


def _resolve_optional(section: dict[str, Any], names: tuple[str, ...], base: Path) -> None:
    """Optional paths of ``section``, when set, resolve against the config's folder."""
    for name in names:
        if section.get(name):
            section[name] = base / Path(section[name])


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
