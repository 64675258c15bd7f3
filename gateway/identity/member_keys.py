"""One member's own key material (``medgate member keygen``): its private keys, certificates, config
and public member card, written in its own folder and nowhere else.

What is written under ``folder`` (private files 0600)::

    keys/ca.key ca.pem signing.key signing.pem tls.key tls.pem encryption.jwk.json token.key
    clients/ehr.key ehr.jwks.json        the member's own EHR as a SMART backend client
    clients/operator.key operator.jwks.json  the operator's tool (medgate propose / endorse)
    medgate.toml                         its gateway config (not joined to a consortium yet)
    card.json                            its public member card (gateway.identity.card)
    data/                                where its databases will live

No consortium-wide secret is made here: the patient-pseudonym key arrives encrypted to this
member's encryption key at the end of the genesis ceremony (gateway.identity.ceremony).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.auth.keys import kid_of as token_kid_of
from gateway.auth.keys import public_jwk as token_public_jwk
from gateway.crypto.keys import generate_encryption_key
from gateway.crypto.keys import public_jwk as public_encryption_jwk
from gateway.identity import certs
from gateway.identity.card import MemberCard, card_bytes, card_from_json
from gateway.identity.config_file import render_config
from gateway.identity.files import (
    ExistingMaterialError,
    cert_pem,
    private_key_pem,
    write_private,
    write_public,
)
from ledger.signing import b64url, generate_signing_key, kid_of, public_key_b64

ORG_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
ROLES = ("hospital", "insurer", "agency")
LOCAL_HOSTS = ("127.0.0.1", "localhost")
CARD_FILE = "card.json"
CONFIG_FILE = "medgate.toml"
GENESIS_FILE = "genesis.json"


@dataclass(frozen=True, slots=True)
class NewMember:
    """What ``member keygen`` is asked for. ``name`` defaults to ``org``."""

    org: str
    role: str
    endpoint: str
    post_quantum: bool = False
    name: str | None = None


def check_new_member(spec: NewMember) -> None:
    """Raise ValueError naming the first bad field of ``spec``."""
    if not ORG_ID.match(spec.org):
        raise ValueError(
            f"member id {spec.org!r}: lowercase letters, digits and dashes, 2-63 chars"
        )
    if spec.role not in ROLES:
        raise ValueError(f"role {spec.role!r}: one of {', '.join(ROLES)}")
    parts = urlsplit(spec.endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url {spec.endpoint!r}: an http(s) URL with a host")


def _tls_hosts(endpoint: str) -> tuple[str, ...]:
    host = urlsplit(endpoint).hostname or "localhost"
    return LOCAL_HOSTS if host in LOCAL_HOSTS else (host,)


def generate_member(
    folder: Path, spec: NewMember, not_before: datetime, *, genesis: str = GENESIS_FILE
) -> MemberCard:
    """Write a new member's material into ``folder`` (which must not exist) and return its card.

    Raises ValueError for a bad ``spec`` and ExistingMaterialError, before writing anything, when
    ``folder`` exists. The config's paths are relative to ``folder``; its ``consortium`` stays
    empty until ``member join``, which writes the sealed genesis to ``genesis`` (relative to
    ``folder``; ``medgate init`` points every member at one shared ``../consortium/genesis.json``).
    """
    check_new_member(spec)
    if folder.exists():
        raise ExistingMaterialError(str(folder))
    keys = folder / "keys"
    ca = certs.make_ca(spec.org, not_before)
    signing = generate_signing_key()
    signing_cert = certs.issue(ca, spec.org, "signing", signing, not_before)
    tls_key = ec.generate_private_key(ec.SECP256R1())
    tls_hosts = _tls_hosts(spec.endpoint)
    tls_cert = certs.issue(ca, spec.org, "tls", tls_key, not_before, tls_hosts=tls_hosts)
    encryption = generate_encryption_key(spec.post_quantum)
    token = ec.generate_private_key(ec.SECP256R1())
    write_private(keys / "ca.key", private_key_pem(ca.key))
    write_public(keys / "ca.pem", cert_pem(ca.cert))
    write_private(keys / "signing.key", private_key_pem(signing))
    write_public(keys / "signing.pem", cert_pem(signing_cert))
    write_private(keys / "tls.key", private_key_pem(tls_key))
    write_public(keys / "tls.pem", cert_pem(tls_cert))
    write_private(keys / "encryption.jwk.json", json.dumps(encryption).encode("utf-8"))
    write_private(keys / "token.key", private_key_pem(token))
    _write_client(folder / "clients", "ehr")
    _write_client(folder / "clients", "operator")
    (folder / "data").mkdir(parents=True, exist_ok=True)
    enc_pub = public_encryption_jwk(encryption)
    member = {
        "org": spec.org,
        "role": spec.role,
        "name": spec.name or spec.org,
        "endpoint": spec.endpoint,
        "signing_keys": [
            {
                "kid": kid_of(signing.public_key()),
                "pub": public_key_b64(signing.public_key()),
                "alg": "ES256",
            }
        ],
        "encryption_keys": [{"kid": enc_pub["kid"], "alg": enc_pub["alg"], "jwk": enc_pub}],
        "ca_chain": [
            b64url(ca.cert.public_bytes(Encoding.DER)),
            b64url(signing_cert.public_bytes(Encoding.DER)),
        ],
    }
    card = card_from_json(
        {"medgate_member_card": 1, "member": member, "token_jwks": _token_jwks(token)}
    )
    config = render_config(spec.org, spec.role, "", spec.endpoint, genesis=genesis)
    write_public(folder / CONFIG_FILE, config.encode("utf-8"))
    write_public(folder / CARD_FILE, card_bytes(card))
    return card


def _token_jwks(key: ec.EllipticCurvePrivateKey) -> dict[str, object]:
    public = key.public_key()
    jwk = {**token_public_jwk(public), "kid": token_kid_of(public), "alg": "ES256", "use": "sig"}
    return {"keys": [jwk]}


def _write_client(folder: Path, client_id: str) -> None:
    """The member's own EHR as a SMART backend client: its private key (held by the EHR) and the
    public JWKS the gateway registers."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = {**token_public_jwk(key.public_key()), "alg": "ES256", "use": "sig"}
    write_private(folder / f"{client_id}.key", private_key_pem(key))
    write_public(folder / f"{client_id}.jwks.json", json.dumps({"keys": [public]}).encode("utf-8"))
