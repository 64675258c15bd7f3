"""`medgate member rotate` on a member folder: what it writes, and its refusals (exit codes and
messages). The live tests (test_rotation_live) run it against running gateways."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509

from gateway.cli.main import main
from gateway.crypto.keys import public_jwk, read_jwk
from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.identity.files import load_private_key
from gateway.services.ledger import bootstrap
from gateway.settings import Settings
from ledger.signing import kid_of
from ledger.storage.sql import SqlStore
from tests.e2e.gateways import free_base_port

MEMBERS = [MemberSpec("hospital-a", "hospital"), MemberSpec("insurer-b", "insurer")]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    created = create_consortium(tmp_path, "cli", MEMBERS, base_port=free_base_port(len(MEMBERS)))
    path = created.members[0].config
    settings = Settings.load(path)
    store = SqlStore(settings.ledger_store_url)
    try:
        bootstrap(store, settings.keys.genesis.read_bytes())
    finally:
        store.close()
    return path


def run(config: Path, *flags: str) -> int:
    return main(["member", "rotate", "--config", str(config), *flags])


def test_signing_writes_the_next_key_and_the_body(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = config.parent / "keys"
    old_kid = kid_of(load_private_key(keys / "signing.key").public_key())
    out = config.parent / "update.json"
    assert run(config, "--signing", "--out", str(out)) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    new = load_private_key(keys / "signing.next.key")
    assert stat.S_IMODE((keys / "signing.next.key").stat().st_mode) == 0o600
    assert printed["org"] == "hospital-a"
    assert printed["retire_kid"] == old_kid
    assert printed["add_signing_key"]["kid"] == kid_of(new.public_key())
    assert printed["add_signing_key"]["alg"] == "ES256"
    # Its certificate, issued by the organisation CA, waits beside it.
    cert = x509.load_pem_x509_certificate((keys / "signing.next.pem").read_bytes())
    assert cert.public_key() == new.public_key()
    ca = x509.load_pem_x509_certificate((keys / "ca.pem").read_bytes())
    cert.verify_directly_issued_by(ca)
    # The key in force is untouched until --finish.
    assert kid_of(load_private_key(keys / "signing.key").public_key()) == old_kid


def test_compromised_marks_the_retirement(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "--signing", "--keep-old", "--compromised") == 1
    assert "drop --keep-old" in capsys.readouterr().err
    assert not (config.parent / "keys" / "signing.next.key").exists()  # nothing written
    assert run(config, "--signing", "--compromised") == 0
    body = json.loads(capsys.readouterr().out)
    assert body["compromised"] is True
    assert "retire_kid" in body


def test_keep_old_adds_without_retiring(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "--signing", "--keep-old") == 0
    assert set(json.loads(capsys.readouterr().out)) == {"org", "add_signing_key"}


def test_encryption_body_names_the_new_public_key_only(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "--encryption") == 0
    body = json.loads(capsys.readouterr().out)
    pending = read_jwk(config.parent / "keys" / "encryption.next.jwk.json")
    assert body["encryption_keys"] == [
        {"kid": pending["kid"], "alg": "ECDH-ES+A256KW", "jwk": public_jwk(pending)}
    ]
    assert "d" not in body["encryption_keys"][0]["jwk"]


def test_refusals(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "--finish") == 1
    assert "no rotation is pending" in capsys.readouterr().err
    assert run(config, "--signing") == 0
    capsys.readouterr()
    assert run(config, "--signing") == 1
    assert "a rotation is already pending" in capsys.readouterr().err
    assert run(config, "--finish") == 1  # the update is not on the ledger yet
    assert "not active on the ledger yet" in capsys.readouterr().err
    assert (config.parent / "keys" / "signing.next.key").is_file()  # nothing moved
    assert run(config.parent / "missing.toml", "--token") == 2
    with pytest.raises(SystemExit):
        main(["member", "rotate", "--config", str(config), "--signing", "--token"])


def test_token_rotates_at_once_and_keeps_the_old_key_retired(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = config.parent / "keys"
    old_kid = kid_of(load_private_key(keys / "token.key").public_key())
    assert run(config, "--token") == 0
    jwks = json.loads(capsys.readouterr().out)
    new_kid = kid_of(load_private_key(keys / "token.key").public_key())
    assert jwks["keys"][0]["kid"] == new_kid != old_kid
    assert "d" not in jwks["keys"][0]
    kept = keys / "retired" / f"token-{old_kid}.key"
    assert kid_of(load_private_key(kept).public_key()) == old_kid
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE((keys / "token.key").stat().st_mode) == 0o600
    marker = json.loads((keys / "retired" / f"token-{old_kid}.retired.json").read_text())
    assert marker["kid"] == old_kid
    assert isinstance(marker["retired_at"], int)
