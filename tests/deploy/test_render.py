"""`medgate deploy render`: the files of a member's kit, their modes, and that each one is accepted
by the program that reads it (nats-server -t, gateway.settings, systemd-analyze verify)."""

from __future__ import annotations

import configparser
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from gateway.settings import Settings
from gateway.tls import check_transport, nats_client_context
from tests.deploy.kits import MemberKit, render_kits, run_medgate
from tests.support.nats_cluster import nats_server_binary

PRIVATE = [
    "gateway/keys/signing.key",
    "gateway/keys/encryption.jwk.json",
    "gateway/keys/token.key",
    "gateway/keys/patient.key",
    "gateway/keys/tls.key",
    "gateway/keys/nats-client.key",
    "nats/tls/server.key",
    "gateway/medgate.toml",
]
PUBLIC = [
    "README.md",
    "gateway/keys/tls.pem",
    "gateway/keys/nats-client.pem",
    "gateway/keys/member-cas.pem",
    "gateway/keys/ca.pem",
    "gateway/consortium/genesis.json",
    "gateway/clients/ehr.jwks.json",
    "nats/nats-server.conf",
    "nats/tls/server.pem",
    "nats/tls/member-cas.pem",
    "systemd/medgate-gateway.service",
    "systemd/medgate-nats.service",
    "kit.json",
]


@pytest.fixture(scope="module")
def kits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MemberKit]:
    return render_kits(tmp_path_factory.mktemp("deploy"))


def test_the_kit_holds_every_file_with_private_files_0600(kits: dict[str, MemberKit]) -> None:
    kit = kits["hospital-a"].dir
    for rel in PRIVATE + PUBLIC:
        assert (kit / rel).is_file(), rel
    for rel in PRIVATE:
        assert stat.S_IMODE((kit / rel).stat().st_mode) == 0o600, rel
    for folder in ("gateway/data", "nats/store"):
        assert stat.S_IMODE((kit / folder).stat().st_mode) == 0o700, folder
    # The organisation CA key stays with the operator: it is not shipped to the host.
    assert not (kit / "gateway/keys/ca.key").exists()


def test_a_second_render_into_the_same_folder_is_refused(kits: dict[str, MemberKit]) -> None:
    kit = kits["hospital-a"]
    init_config = kit.dir.parents[1] / "init" / "hospital-a" / "medgate.toml"
    before = (kit.dir / "gateway/keys/tls.key").read_bytes()
    done = run_medgate("deploy", "render", "--config", str(init_config), "--out", str(kit.dir))
    assert done.returncode == 1
    assert "refusing to overwrite" in done.stderr
    assert (kit.dir / "gateway/keys/tls.key").read_bytes() == before


def test_the_gateway_config_loads_and_names_https_postgresql_and_nats_tls(
    kits: dict[str, MemberKit],
) -> None:
    kit = kits["hospital-a"]
    settings = Settings.load(kit.config)
    assert settings.public_url == f"https://127.0.0.1:{kit.https_port}"
    assert settings.server.allow_plain_http is False
    check_transport(settings)  # what `medgate serve` checks first: HTTPS files present and valid
    assert settings.storage.url.startswith("postgresql+psycopg://")
    assert settings.storage.ledger_url.startswith("postgresql+psycopg://")
    assert settings.ordering.backend == "nats"
    assert settings.ordering.nats_servers == (f"tls://127.0.0.1:{kit.client_port}",)
    assert nats_client_context(settings) is not None
    assert settings.ordering.max_view_age_s == 5.0


def test_tls_certificates_come_from_the_member_ca_and_name_the_host(
    kits: dict[str, MemberKit],
) -> None:
    kit = kits["hospital-b"].dir
    ca = x509.load_pem_x509_certificate((kit / "gateway/keys/ca.pem").read_bytes())
    for rel in ("gateway/keys/tls.pem", "nats/tls/server.pem", "gateway/keys/nats-client.pem"):
        cert = x509.load_pem_x509_certificate((kit / rel).read_bytes())
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "127.0.0.1" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    bundle = x509.load_pem_x509_certificates((kit / "nats/tls/member-cas.pem").read_bytes())
    assert len(bundle) == 3  # every member's organisation CA
    assert ca in bundle


def test_the_nats_config_parses_in_nats_server_test_mode(kits: dict[str, MemberKit]) -> None:
    kit = kits["insurer"]
    conf = kit.dir / "nats/nats-server.conf"
    text = conf.read_text()
    assert "sync_interval: always" in text
    assert "verify_and_map: true" in text
    others = [k for k in kits.values() if k.org != "insurer"]
    for other in others:
        assert f"nats-route://127.0.0.1:{other.cluster_port}" in text
        assert f'user: "CN={other.org} nats-client,O={other.org}"' in text
    done = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is valid" in done.stdout + done.stderr


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


@pytest.mark.parametrize("name", ["medgate-gateway", "medgate-nats"])
def test_systemd_units_parse_and_run_real_binaries(kits: dict[str, MemberKit], name: str) -> None:
    kit = kits["hospital-a"].dir
    path = kit / "systemd" / f"{name}.service"
    unit = _unit(path)
    service = unit["Service"]
    assert service["UMask"] == "0077"
    assert service["User"] == "medgate"
    assert service["Restart"] == "on-failure"
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).is_absolute()
    assert Path(argv[0]).is_file()
    config = Path(argv[argv.index("--config" if name == "medgate-gateway" else "-c") + 1])
    assert config.is_file()
    assert config.is_relative_to(kit)
    analyze = shutil.which("systemd-analyze")
    if analyze is not None:  # the Debian images have it; the parser check above runs anyway
        done = subprocess.run(
            [analyze, "verify", str(path)], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_readme_walks_from_an_empty_host_to_a_serving_member(
    kits: dict[str, MemberKit],
) -> None:
    kit = kits["hospital-a"]
    text = (kit.dir / "README.md").read_text()
    for step in ("useradd", "createdb", "systemctl daemon-reload", "/readyz", "-t -c"):
        assert step in text, step
    assert f"https://127.0.0.1:{kit.https_port}" in text
    assert "{{" not in text


def test_init_registers_a_members_https_endpoint_and_names_its_host(tmp_path: Path) -> None:
    done = run_medgate(
        "init", "--dir", str(tmp_path / "c"),
        "--org", "hospital-a:hospital", "--org", "insurer:insurer",
        "--url", "hospital-a=https://gw.hospital-a.example:8443",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    https = Settings.load(tmp_path / "c" / "hospital-a" / "medgate.toml")
    assert https.public_url == "https://gw.hospital-a.example:8443"
    assert https.server.allow_plain_http is False
    check_transport(https)
    cert = x509.load_pem_x509_certificate(https.server.tls_cert.read_bytes())  # type: ignore[union-attr]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "gw.hospital-a.example" in san.get_values_for_type(x509.DNSName)
    loopback = Settings.load(tmp_path / "c" / "insurer" / "medgate.toml")
    assert loopback.public_url.startswith("http://127.0.0.1:")
    assert loopback.server.allow_plain_http is True
    bad = run_medgate(
        "init", "--dir", str(tmp_path / "d"), "--org", "a1:hospital", "--url", "a1=ftp://x"
    )
    assert bad.returncode != 0
    assert "expected ID=URL" in bad.stderr


def test_render_without_the_ca_key_says_so_and_writes_nothing(
    kits: dict[str, MemberKit], tmp_path: Path
) -> None:
    """A kit's own config has no CA key beside it (it stays offline): render cannot issue."""
    out = tmp_path / "again"
    done = run_medgate(
        "deploy", "render", "--config", str(kits["insurer"].config), "--out", str(out)
    )
    assert done.returncode == 2
    assert "organisation CA key is needed" in done.stderr
    assert not out.exists() or not any(out.rglob("*.key"))
