"""`medgate member keygen`: one member's own keys, config and public card, and nothing else."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from gateway.cli.main import main
from gateway.crypto.keys import public_jwk
from gateway.identity.card import read_card
from gateway.identity.files import load_private_key
from ledger.signing import b64url, kid_of, public_key_b64

PRIVATE = {
    "keys/ca.key",
    "keys/signing.key",
    "keys/tls.key",
    "keys/encryption.jwk.json",
    "keys/token.key",
    "clients/ehr.key",
    "clients/operator.key",
}
PUBLIC = {
    "keys/ca.pem",
    "keys/signing.pem",
    "keys/tls.pem",
    "clients/ehr.jwks.json",
    "clients/operator.jwks.json",
    "medgate.toml",
    "card.json",
}


def _keygen(root: Path, org: str, *extra: str) -> int:
    argv = ["member", "keygen", "--dir", str(root), "--org", org, "--role", "hospital"]
    return main([*argv, "--url", "https://gw.hospital-a.example:8443", *extra])


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_keygen_writes_exactly_the_members_own_material(tmp_path: Path) -> None:
    assert _keygen(tmp_path, "hospital-a") == 0
    folder = tmp_path / "hospital-a"
    assert _files(folder) == PRIVATE | PUBLIC
    assert [p.name for p in tmp_path.iterdir()] == ["hospital-a"]
    for name in PRIVATE:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    assert not (folder / "keys" / "patient.key").exists()


def test_the_card_carries_the_public_halves_of_the_members_keys(tmp_path: Path) -> None:
    assert _keygen(tmp_path, "hospital-a", "--pq", "--name", "Hospital A") == 0
    folder = tmp_path / "hospital-a"
    card = read_card(folder / "card.json")
    assert (card.org, card.role, card.member["name"]) == ("hospital-a", "hospital", "Hospital A")
    assert card.endpoint == "https://gw.hospital-a.example:8443"
    signing = load_private_key(folder / "keys" / "signing.key").public_key()
    assert card.member["signing_keys"] == [
        {"kid": kid_of(signing), "pub": public_key_b64(signing), "alg": "ES256"}
    ]
    encryption = json.loads((folder / "keys" / "encryption.jwk.json").read_bytes())
    assert card.member["encryption_keys"][0]["jwk"] == public_jwk(encryption)
    assert card.member["encryption_keys"][0]["alg"] == "HPKE-9-KE"
    token = load_private_key(folder / "keys" / "token.key").public_key()
    (token_jwk,) = card.token_jwks["keys"]
    assert token_jwk["x"] == b64url(token.public_numbers().x.to_bytes(32, "big"))
    assert token_jwk["kid"] == kid_of(token) != card.member["signing_keys"][0]["kid"]
    assert "d" not in token_jwk
    config = (folder / "medgate.toml").read_text()
    assert 'consortium = ""' in config
    assert 'genesis = "genesis.json"' in config


def test_keygen_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _keygen(tmp_path, "hospital-a") == 0
    before = (tmp_path / "hospital-a" / "keys" / "signing.key").read_bytes()
    capsys.readouterr()
    assert _keygen(tmp_path, "hospital-a") == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (tmp_path / "hospital-a" / "keys" / "signing.key").read_bytes() == before


@pytest.mark.parametrize(
    ("org", "url", "problem"),
    [
        ("Hospital_A", "https://gw.example", "lowercase"),
        ("hospital-a", "ftp://gw.example", "http(s) URL"),
    ],
)
def test_bad_member_details_are_refused_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], org: str, url: str, problem: str
) -> None:
    argv = ["member", "keygen", "--dir", str(tmp_path), "--org", org, "--role", "insurer"]
    assert main([*argv, "--url", url]) == 2
    assert problem in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
