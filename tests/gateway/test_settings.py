"""Settings: the TOML file, env overrides, path resolution, and refusal of missing or placeholder keys."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.settings import Role, Settings
from tests.gateway.member import Member, write_member


def test_load_resolves_paths_against_the_config_folder(member: Member) -> None:
    settings = Settings.load(member.config)
    folder = member.config.parent
    assert settings.org == "hospital-a"
    assert settings.role is Role.HOSPITAL
    assert settings.keys.signing_key == folder / "keys/signing.key"
    assert settings.keys.genesis == folder / "../consortium/genesis.json"
    assert settings.storage.url == f"sqlite:///{folder}/data/gateway.db"
    assert settings.ledger_store_url == f"sqlite:///{folder}/data/ledger.db"
    assert settings.clients[0].jwks_path == folder / "clients/ehr.jwks.json"
    assert settings.clients[0].scopes == ("system/*.read", "system/*.write")


def test_settings_are_frozen(member: Member) -> None:
    settings = Settings.load(member.config)
    with pytest.raises(ValueError, match="frozen"):
        settings.org = "other"  # type: ignore[misc]


def test_environment_overrides_the_file(member: Member, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDGATE_SERVER__PORT", "9100")
    monkeypatch.setenv("MEDGATE_PUBLIC_URL", "https://gw.example.org/")
    settings = Settings.load(member.config)
    assert settings.server.port == 9100
    assert settings.server.max_body_bytes == 65536  # untouched fields keep the file's value
    assert settings.public_url == "https://gw.example.org"


def test_reads_what_medgate_init_writes(tmp_path: Path) -> None:
    from gateway.identity.config_file import render_config

    member = write_member(tmp_path)
    member.config.write_text(
        render_config("hospital-a", "hospital", "ab" * 32, "http://127.0.0.1:8401"),
        encoding="utf-8",
    )
    jwks = member.config.parent / "clients" / "ehr.jwks.json"
    (jwks.parent / "operator.jwks.json").write_bytes(jwks.read_bytes())
    settings = Settings.load(member.config)
    assert settings.server.port == 8401
    assert settings.clients[0].client_id == "ehr"
    # The operator's tool (medgate propose / endorse) names Ledger.write explicitly.
    assert settings.clients[1].client_id == "operator"
    assert settings.clients[1].scopes == ("system/Ledger.read", "system/Ledger.write")


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda f: (f / "keys/token.key").unlink(), "keys.token_key"),
        (lambda f: (f / "clients/ehr.jwks.json").unlink(), "clients.ehr"),
        (lambda f: (f / "keys/patient.key").write_text("changethis"), "keys.patient_key"),
        (
            lambda f: (f / "keys/patient.key").write_bytes(base64.urlsafe_b64encode(bytes(32))),
            "keys.patient_key",
        ),
        (lambda f: (f / "keys/patient.key").write_text("c2hvcnQ"), "keys.patient_key"),
    ],
)
def test_refuses_missing_or_placeholder_keys(member: Member, edit: object, field: str) -> None:
    edit(member.config.parent)  # type: ignore[operator]
    with pytest.raises(ConfigError) as caught:
        Settings.load(member.config)
    assert caught.value.field == field


def test_refuses_placeholder_database_password(tmp_path: Path) -> None:
    member = write_member(
        tmp_path, storage_url="postgresql+psycopg://medgate:changethis@db/medgate"
    )
    with pytest.raises(ConfigError, match="placeholder"):
        Settings.load(member.config)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('role = "hospital"', 'role = "pharmacy"'),
        ('org = "hospital-a"', 'org = "Hospital A"'),
        ("port = 8401", "port = 0"),
        ('backend = "solo"', 'backend = "kafka"'),
    ],
)
def test_refuses_invalid_values(member: Member, old: str, new: str) -> None:
    text = member.config.read_text(encoding="utf-8")
    member.config.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError):
        Settings.load(member.config)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Settings.load(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("org = ", encoding="utf-8")
    with pytest.raises(ConfigError):
        Settings.load(bad)
