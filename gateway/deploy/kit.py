"""Render one member's production kit into a folder: what `medgate deploy render` writes.

The kit is everything one member host needs, from the member's `medgate init` folder: the gateway
config on PostgreSQL and `nats` ordering over mutual TLS, the member's key files (never the CA key),
TLS certificates issued now by the member's organisation CA for its public host, the member's NATS
server config (deploy/nats template: TLS routes and clients, the bundle of every member's CA),
systemd units for both, a README, and the stamp ``kit.json`` (gateway.deploy.stamp). The members
it routes to and trusts are the active members of the committed ledger state when the member's
store holds blocks, else the genesis' founders (gateway.deploy.source). Absolute paths in the NATS
config and the units are under ``root``, the folder the kit is installed at on the host (by
default where it is rendered, so a test can run it in place). Layout (stable; the multi-host harness runs it):

    README.md                   kit.json
    gateway/medgate.toml        gateway/keys/  gateway/clients/  gateway/consortium/  gateway/data/
    nats/nats-server.conf       nats/tls/      nats/store/
    systemd/medgate-gateway.service            systemd/medgate-nats.service
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from gateway.deploy import source, stamp, texts
from gateway.deploy.members import MemberSet
from gateway.deploy.routes import nats_routes
from gateway.identity.files import ExistingMaterialError, write_private, write_public
from gateway.settings import Settings
from gateway.tls import issue_from_ca

DEFAULT_DATABASE_URL = "postgresql+psycopg://medgate@/medgate?host=/var/run/postgresql"
DEFAULT_LEDGER_DATABASE_URL = (
    "postgresql+psycopg://medgate@/medgate_ledger?host=/var/run/postgresql"
)
_COPIED_PRIVATE = ("signing_key", "encryption_key", "token_key", "patient_key")
_COPIED_PUBLIC = ("ca_cert", "cert")


def _installed(name: str) -> str:
    """The ``name`` executable of this interpreter's environment (where pip put it), else PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    return shutil.which(name) or f"/usr/local/bin/{name}"


@dataclass(frozen=True, slots=True)
class KitOptions:
    """How to render: every host, port, path and binary the kit names."""

    out: Path
    host: str | None = None
    """The member's public host name or IP (default: the host of its config's public_url)."""
    port: int | None = None
    """The gateway's HTTPS port (default: public_url's port, else 8443)."""
    bind: str = "0.0.0.0"  # noqa: S104 - a member host serves its peers on its public interface
    root: Path | None = None
    """Where the kit lives on the target host (default: ``out``, absolute)."""
    nats_client_listen: str = "0.0.0.0:4222"
    nats_cluster_listen: str = "0.0.0.0:6222"
    nats_monitor_listen: str = "127.0.0.1:8222"
    nats_peers: tuple[str, ...] = ()
    """``ORG=host:port`` (or ``host:port``) overriding a member's NATS cluster listener; by default
    each member's is its endpoint's host on this member's cluster port (gateway.deploy.routes)."""
    nats_servers: tuple[str, ...] = ()
    """NATS client URLs the gateway connects to (default: its own server on the public host)."""
    database_url: str = DEFAULT_DATABASE_URL
    ledger_database_url: str = DEFAULT_LEDGER_DATABASE_URL
    user: str = "medgate"
    group: str = "medgate"
    ledger_store: str | None = None
    """The ledger store to read the members from (default: the config's)."""
    medgate_bin: str = field(default_factory=lambda: _installed("medgate"))
    nats_server_bin: str = field(default_factory=lambda: _installed("nats-server"))


@dataclass(frozen=True, slots=True)
class Kit:
    out: Path
    public_url: str
    registered_endpoint: str
    """This member's endpoint on the ledger; peers call it, so it should equal public_url."""
    files: tuple[Path, ...]
    members: MemberSet
    """Who the kit routes to and trusts, and where that was read."""
    warnings: tuple[str, ...]
    """``--nats-peers`` entries left out (no active member has them)."""


def render_kit(settings: Settings, options: KitOptions, now: datetime) -> Kit:
    """Write the kit of ``settings``' member into ``options.out`` (which must not exist or be
    empty: nothing is ever overwritten). Certificates are valid from ``now``. Raises
    ExistingMaterialError, ValueError (a bad option, or this member is not active), StorageError
    (the ledger store cannot be read), OSError."""
    out = options.out
    if out.exists() and any(out.iterdir()):
        raise ExistingMaterialError(str(out))
    if not settings.keys.ca_key.is_file():
        raise ValueError(
            f"the organisation CA key is needed to issue TLS certificates: {settings.keys.ca_key}"
        )
    members = source.read_members(settings, options.ledger_store)
    own = members.member(settings.org)
    host = options.host or urlsplit(settings.public_url).hostname
    if not host:
        raise ValueError("give --host: the config's public_url names no host")
    port = options.port or urlsplit(settings.public_url).port or 8443
    cluster_port = options.nats_cluster_listen.rsplit(":", 1)[-1]
    routes = nats_routes(members.members, settings.org, options.nats_peers, cluster_port)
    plan = texts.Plan(
        settings=settings,
        options=options,
        host=host,
        port=port,
        root=options.root or out.resolve(),
        orgs=members.orgs,
        routes=routes.routes,
        members=f"{members.describe()}: {', '.join(members.orgs)}",
    )
    # Written into a fresh sibling folder, renamed into place at the end: a failure half-way
    # leaves no partial kit (with copied keys) behind.
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        files = _write_kit(settings, plan, members, own.endpoint, staging, now)
        if out.exists():
            out.rmdir()  # empty (checked above)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Kit(
        out,
        texts.public_url(plan),
        own.endpoint,
        tuple(out / f for f in files),
        members,
        routes.warnings,
    )


def _write_kit(
    settings: Settings,
    plan: texts.Plan,
    members: MemberSet,
    endpoint: str,
    out: Path,
    now: datetime,
) -> list[Path]:
    """Every file of the kit under ``out``; their paths relative to it."""
    written: list[Path] = []

    def private(rel: str, data: bytes) -> None:
        write_private(out / rel, data)
        written.append(Path(rel))

    def public(rel: str, data: bytes) -> None:
        write_public(out / rel, data)
        written.append(Path(rel))

    for name in _COPIED_PRIVATE:
        path: Path = getattr(settings.keys, name)
        private(f"gateway/keys/{path.name}", path.read_bytes())
    for name in _COPIED_PUBLIC:
        path = getattr(settings.keys, name)
        public(f"gateway/keys/{path.name}", path.read_bytes())
    public("gateway/consortium/genesis.json", settings.keys.genesis.read_bytes())
    for client in settings.clients:
        if client.jwks_path is not None:
            public(f"gateway/clients/{client.jwks_path.name}", client.jwks_path.read_bytes())
    cas = members.ca_bundle_pem()
    public("gateway/keys/member-cas.pem", cas)
    public("nats/tls/member-cas.pem", cas)
    _issue(settings, private, public, plan.host, now)
    private("gateway/medgate.toml", texts.gateway_config(plan).encode("utf-8"))
    private("nats/nats-server.conf", texts.nats_config(plan).encode("utf-8"))
    public("systemd/medgate-gateway.service", texts.gateway_unit(plan).encode("utf-8"))
    public("systemd/medgate-nats.service", texts.nats_unit(plan).encode("utf-8"))
    public("README.md", texts.readme(plan, endpoint).encode("utf-8"))
    public(stamp.STAMP, stamp.stamp_bytes(stamp.stamp_of(settings.org, members)))
    for folder in ("gateway/data", "nats/store"):
        (out / folder).mkdir(mode=0o700, parents=True, exist_ok=True)
    return written


def _issue(
    settings: Settings, private: texts.Writer, public: texts.Writer, host: str, now: datetime
) -> None:
    """The HTTPS server certificate, the NATS server's and the gateway's NATS client one, all
    from the member's CA (which must be on this machine: render where the CA key is kept)."""
    ca_key = settings.keys.ca_key
    names = tuple(dict.fromkeys((host, "localhost", "127.0.0.1")))
    for rel, purpose in (
        ("gateway/keys/tls", "https"),
        ("nats/tls/server", "nats"),
        ("gateway/keys/nats-client", texts.NATS_CLIENT_PURPOSE),
    ):
        key_pem, cert_pem = issue_from_ca(
            settings.keys.ca_cert, ca_key, settings.org, purpose, names, now
        )
        private(f"{rel}.key", key_pem)
        public(f"{rel}.pem", cert_pem)
