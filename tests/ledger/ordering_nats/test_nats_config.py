"""The member server config template: rendering rules, and nats-server accepting both renderings."""

from __future__ import annotations

import dataclasses
import datetime
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledger.errors import OrderingError
from ledger.ordering.nats_config import ServerSettings, ServerTls, render_server_config
from tests.support.nats_cluster import TEMPLATE, nats_server_binary

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def settings(tmp_path: Path, tls: ServerTls | None = None) -> ServerSettings:
    return ServerSettings(
        server_name="hospital-a",
        client_listen="127.0.0.1:14222",
        monitor_listen="127.0.0.1:18222",
        cluster_name="consortium-x",
        cluster_listen="127.0.0.1:16222",
        routes=("127.0.0.1:16222", "127.0.0.1:16223", "127.0.0.1:16224"),
        store_dir=str(tmp_path / "store"),
        tls=tls,
    )


def check_with_server(tmp_path: Path, text: str) -> None:
    """``nats-server -t`` parses the config (and loads any certificates) without starting."""
    config = tmp_path / "server.conf"
    config.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_loopback_rendering_drops_tls_and_keeps_durability(tmp_path: Path) -> None:
    text = render_server_config(TEMPLATE.read_text(), settings(tmp_path))
    assert "sync_interval: always" in text
    assert "nats-route://127.0.0.1:16223" in text
    assert "cert_file" not in text
    assert "verify_and_map" not in text
    assert "accounts" not in text
    assert "{{" not in text
    check_with_server(tmp_path, text)


def test_production_rendering_keeps_mutual_tls_and_accounts(tmp_path: Path) -> None:
    tls = write_pki(tmp_path)
    text = render_server_config(TEMPLATE.read_text(), settings(tmp_path, tls))
    assert "verify_and_map: true" in text
    assert text.count(f'ca_file: "{tls.ca_file}"') == 2  # routes and clients
    assert '"$JS.API.STREAM.DELETE.>"' in text
    assert "{{" not in text
    check_with_server(tmp_path, text)


def test_a_value_that_could_open_a_block_is_refused(tmp_path: Path) -> None:
    bad = dataclasses.replace(settings(tmp_path), server_name="x }\nhttp: 0.0.0.0:1")
    with pytest.raises(OrderingError, match="unsafe"):
        render_server_config(TEMPLATE.read_text(), bad)


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("a: {{nope}}\n", "no value"),
        ("# >>> tls\nx: 1\n", "unterminated"),
        ("# <<< tls\n", "without begin"),
        ("# >>> tls\n# >>> tls\n# <<< tls\n", "nested"),
    ],
)
def test_malformed_templates_are_refused(tmp_path: Path, template: str, problem: str) -> None:
    with pytest.raises(OrderingError, match=problem):
        render_server_config(template, settings(tmp_path))


def write_pki(tmp_path: Path) -> ServerTls:
    """A member CA and a server certificate for 127.0.0.1, as PEM files."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hospital-a CA")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nats.hospital-a")])
    san = x509.SubjectAlternativeName([x509.DNSName("localhost")])
    cert = _builder(name, ca_name, key.public_key()).add_extension(san, critical=False)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.pem").write_bytes(
        cert.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    )
    (tmp_path / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ServerTls(
        cert_file=str(tmp_path / "server.pem"),
        key_file=str(tmp_path / "server.key"),
        ca_file=str(tmp_path / "ca.pem"),
        gateway_user_dn="CN=gateway,O=hospital-a",
        operator_user_dn="CN=operator,O=hospital-a",
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=3650))
    )
