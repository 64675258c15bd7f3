"""TLS of one member: its HTTPS server files, the refusal of plain HTTP outside a loopback demo,
and the client context of its NATS connection.

Every certificate comes from a member's own organisation CA (ARCHITECTURE.md section 5); no public
CA is involved. What a peer trusts when it calls another member is in gateway.peers.tls.
"""

from __future__ import annotations

import ssl
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.errors import ConfigError
from gateway.identity import certs
from gateway.identity.files import cert_pem, load_private_key, private_key_pem
from gateway.settings import Settings


def check_transport(settings: Settings) -> None:
    """Refuse to serve plain HTTP outside a loopback demo, and HTTPS without its files.

    Raises ConfigError naming the field: an http:// ``public_url`` without
    ``server.allow_plain_http``; an https:// one (or no allowance) without readable
    ``server.tls_cert`` and ``server.tls_key``."""
    server = settings.server
    scheme = urlsplit(settings.public_url).scheme
    if scheme == "http" and not server.allow_plain_http:
        raise ConfigError(
            "public_url",
            "plain HTTP is refused outside a loopback demo: give an https:// public_url with "
            "server.tls_cert and server.tls_key (or set server.allow_plain_http = true on a "
            "one-machine test consortium)",
        )
    if scheme == "http":
        return
    for name in ("tls_cert", "tls_key"):
        path: Path | None = getattr(server, name)
        if path is None:
            raise ConfigError(f"server.{name}", "HTTPS needs server.tls_cert and server.tls_key")
        if not path.is_file():
            raise ConfigError(f"server.{name}", f"TLS file missing: {path}")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            str(server.tls_cert), str(server.tls_key)
        )
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError("server.tls_cert", f"cannot load the TLS certificate: {exc}") from exc


def serves_tls(settings: Settings) -> bool:
    """Whether ``medgate serve`` speaks HTTPS (after ``check_transport`` passed)."""
    return urlsplit(settings.public_url).scheme == "https"


def nats_client_context(settings: Settings) -> ssl.SSLContext | None:
    """The NATS connection's TLS context: server certificates checked against the member CA
    bundle, our client certificate presented (mutual TLS, mapped to a NATS user). None when
    ``ordering.nats_tls_ca`` is not set. Raises ConfigError for a half-set or unreadable config."""
    ordering = settings.ordering
    if ordering.nats_tls_ca is None:
        if ordering.nats_tls_cert is not None or ordering.nats_tls_key is not None:
            raise ConfigError("ordering.nats_tls_ca", "NATS TLS needs the member CA bundle")
        return None
    if (ordering.nats_tls_cert is None) != (ordering.nats_tls_key is None):
        raise ConfigError("ordering.nats_tls_cert", "give both nats_tls_cert and nats_tls_key")
    try:
        context = ssl.create_default_context(cafile=str(ordering.nats_tls_ca))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if ordering.nats_tls_cert is not None and ordering.nats_tls_key is not None:
            context.load_cert_chain(str(ordering.nats_tls_cert), str(ordering.nats_tls_key))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError("ordering.nats_tls_ca", f"cannot load NATS TLS files: {exc}") from exc
    return context


def issue_from_ca(
    ca_cert: Path,
    ca_key: Path,
    org: str,
    purpose: str,
    hosts: tuple[str, ...],
    not_before: datetime,
) -> tuple[bytes, bytes]:
    """A fresh P-256 key and its certificate from the member's CA files, for TLS on ``hosts``
    (DNS names or IP addresses): ``(key_pem, cert_pem)``. Requires ``hosts`` non-empty."""
    if not hosts:
        raise ValueError("a TLS certificate needs at least one host name")
    ca = certs.IssuedCert(
        load_private_key(ca_key), x509.load_pem_x509_certificate(ca_cert.read_bytes())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certs.issue(ca, org, purpose, key, not_before, tls_hosts=hosts)
    return private_key_pem(key), cert_pem(cert)
