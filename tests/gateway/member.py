"""Test support: a member's config folder with real keys, a manual clock, and token helpers."""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth import jwt
from gateway.auth.keys import kid_of, public_jwk

CONSORTIUM = "ab" * 32
T0 = 1_800_000_000


@dataclass
class ManualClock:
    """A clock the test moves by hand (seconds); time is an input of the code under test."""

    now: int = T0

    def __call__(self) -> int:
        return self.now


@dataclass
class Member:
    config: Path
    client_key: ec.EllipticCurvePrivateKey
    token_key: ec.EllipticCurvePrivateKey
    signing_key: ec.EllipticCurvePrivateKey
    public_url: str
    extra: dict[str, str] = field(default_factory=dict)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o600)


def write_member(
    root: Path,
    *,
    org: str = "hospital-a",
    public_url: str = "http://testserver",
    storage_url: str = "sqlite:///data/gateway.db",
    max_body_bytes: int = 65536,
    scopes: tuple[str, ...] = ("system/*.read", "system/*.write"),
) -> Member:
    """Write ``root/<org>/medgate.toml`` and its key files as ``medgate init`` would lay them out."""
    folder = root / org
    client_key, token_key, signing_key = new_key(), new_key(), new_key()
    _write(folder / "keys/signing.key", pem(signing_key))
    _write(folder / "keys/token.key", pem(token_key))
    for name in ("encryption.jwk.json", "ca.pem", "ca.key", "signing.pem"):
        _write(folder / "keys" / name, b"not read by the FHIR part")
    patient_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=")
    _write(folder / "keys/patient.key", patient_key)
    _write(root / "consortium/genesis.json", b"{}")
    jwks = {"keys": [public_jwk(client_key.public_key())]}
    _write(folder / "clients/ehr.jwks.json", orjson.dumps(jwks))
    scope_list = ", ".join(f'"{s}"' for s in scopes)
    (folder / "medgate.toml").write_text(
        f"""org = "{org}"
role = "hospital"
consortium = "{CONSORTIUM}"
public_url = "{public_url}"
[server]
host = "127.0.0.1"
port = 8401
max_body_bytes = {max_body_bytes}
allow_plain_http = true
[storage]
url = "{storage_url}"
ledger_url = "sqlite:///data/ledger.db"
[ordering]
backend = "solo"
solo_path = "../consortium/ordering.db"
[[clients]]
client_id = "ehr"
jwks_path = "clients/ehr.jwks.json"
scopes = [{scope_list}]
""",
        encoding="utf-8",
    )
    return Member(folder / "medgate.toml", client_key, token_key, signing_key, public_url)


def client_assertion(
    key: ec.EllipticCurvePrivateKey,
    audience: str,
    now: int,
    *,
    client_id: str = "ehr",
    lifetime: int = 60,
    jti: str | None = None,
) -> str:
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": jti or secrets.token_urlsafe(12),
    }
    return jwt.sign(claims, key, kid_of(key.public_key()))


def token_form(assertion: str, scope: str = "system/*.read system/*.write") -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "scope": scope,
    }
