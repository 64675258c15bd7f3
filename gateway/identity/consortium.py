"""Create a consortium on disk: every member's key material and config, and the signed genesis.

The genesis entry is signed by every founding member (one signs, the others endorse), so no single
member can invent the consortium. Everything secret is written 0600 and nothing is ever overwritten:
the whole target is checked before the first byte is written.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.auth.keys import public_jwk
from gateway.clock import now_ms, utcnow
from gateway.crypto.keys import generate_encryption_key
from gateway.crypto.keys import public_jwk as public_encryption_jwk
from gateway.identity import certs
from gateway.identity.config_file import render_config
from gateway.identity.files import (
    ExistingMaterialError,
    cert_pem,
    private_key_pem,
    write_private,
    write_public,
)
from gateway.identity.policy_terms import default_policy_terms
from ledger.genesis import build_genesis, consortium_id
from ledger.ids import OrgId
from ledger.signing import generate_signing_key, kid_of, public_key_b64

ORG_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
PATIENT_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class MemberSpec:
    org: str
    role: str
    post_quantum: bool = False


@dataclass(frozen=True, slots=True)
class CreatedMember:
    org: str
    role: str
    public_url: str
    config: Path


@dataclass(frozen=True, slots=True)
class Created:
    consortium_id: str
    members: list[CreatedMember]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _check_target(root: Path, members: list[MemberSpec]) -> None:
    orgs = [m.org for m in members]
    if len(members) < 1:
        raise ValueError("a consortium needs at least one member")
    if len(set(orgs)) != len(orgs):
        raise ValueError("member ids must be unique")
    for org in orgs:
        if not ORG_ID.match(org):
            raise ValueError(f"member id {org!r}: lowercase letters, digits and dashes, 2-63 chars")
    for path in [root / "consortium", *(root / org for org in orgs)]:
        if path.exists():
            raise ExistingMaterialError(str(path))


def create_consortium(
    root: Path,
    name: str,
    members: list[MemberSpec],
    *,
    base_port: int = 8401,
    ports: Sequence[int] | None = None,
    urls: Mapping[str, str] | None = None,
) -> Created:
    """Write a new consortium under ``root``; member ``i`` listens on ``ports[i]`` (default
    ``base_port + i``) at ``http://127.0.0.1:<port>``, unless ``urls`` gives its public URL
    (``https://host[:port]`` on separate hosts: its TLS certificate names that host). Raises ExistingMaterialError before writing anything if any of its folders
    exist already, ValueError for a bad member list."""
    _check_target(root, members)
    if ports is not None and len(ports) != len(members):
        raise ValueError("give one port per member")
    chosen = list(ports) if ports is not None else [base_port + i for i in range(len(members))]
    not_before = utcnow()
    patient_key = _b64(secrets.token_bytes(PATIENT_KEY_BYTES)).encode("ascii")
    signers: dict[OrgId, ec.EllipticCurvePrivateKey] = {}
    records = []
    created = []
    for offset, spec in enumerate(members):
        url = (urls or {}).get(spec.org) or f"http://127.0.0.1:{chosen[offset]}"
        signing = generate_signing_key()
        signers[OrgId(spec.org)] = signing
        records.append(_write_member(root / spec.org, spec, url, signing, patient_key, not_before))
        created.append(CreatedMember(spec.org, spec.role, url, root / spec.org / "medgate.toml"))
    leaf = build_genesis(
        name=name,
        members=records,
        quorum={"rule": "MAJORITY"},
        policy=default_policy_terms(),
        ts=now_ms(),
        nonce=_b64(secrets.token_bytes(16)),
        signers=signers,
    )
    write_public(root / "consortium" / "genesis.json", leaf)
    cid = consortium_id(leaf)
    for item in created:
        config = render_config(item.org, _role(members, item.org), cid, item.public_url)
        write_public(item.config, config.encode("utf-8"))
    return Created(cid, created)


def _role(members: list[MemberSpec], org: str) -> str:
    return next(m.role for m in members if m.org == org)


def _write_member(
    folder: Path,
    spec: MemberSpec,
    url: str,
    signing: ec.EllipticCurvePrivateKey,
    patient_key: bytes,
    not_before: datetime,
) -> dict[str, object]:
    """Write one member's keys and certificates; return its member record for the genesis."""
    keys = folder / "keys"
    ca = certs.make_ca(spec.org, not_before)
    signing_cert = certs.issue(ca, spec.org, "signing", signing, not_before)
    tls_key = ec.generate_private_key(ec.SECP256R1())
    tls_cert = certs.issue(ca, spec.org, "tls", tls_key, not_before, tls_hosts=_tls_hosts(url))
    encryption = generate_encryption_key(spec.post_quantum)
    write_private(keys / "ca.key", private_key_pem(ca.key))
    write_public(keys / "ca.pem", cert_pem(ca.cert))
    write_private(keys / "signing.key", private_key_pem(signing))
    write_public(keys / "signing.pem", cert_pem(signing_cert))
    write_private(keys / "tls.key", private_key_pem(tls_key))
    write_public(keys / "tls.pem", cert_pem(tls_cert))
    write_private(keys / "encryption.jwk.json", json.dumps(encryption).encode("utf-8"))
    write_private(keys / "token.key", private_key_pem(ec.generate_private_key(ec.SECP256R1())))
    write_private(keys / "patient.key", patient_key)
    _write_client(folder / "clients", "ehr")
    (folder / "data").mkdir(parents=True, exist_ok=True)
    pub = signing.public_key()
    enc_pub = public_encryption_jwk(encryption)
    return {
        "org": spec.org,
        "role": spec.role,
        "name": spec.org,
        "endpoint": url,
        "signing_keys": [{"kid": kid_of(pub), "pub": public_key_b64(pub), "alg": "ES256"}],
        "encryption_keys": [{"kid": enc_pub["kid"], "alg": enc_pub["alg"], "jwk": enc_pub}],
        "ca_chain": [
            _b64(ca.cert.public_bytes(Encoding.DER)),
            _b64(signing_cert.public_bytes(Encoding.DER)),
        ],
        "status": "active",
    }


def _tls_hosts(url: str) -> tuple[str, ...]:
    host = urlsplit(url).hostname or "127.0.0.1"
    return tuple(dict.fromkeys((host, "127.0.0.1", "localhost")))


def _write_client(folder: Path, client_id: str) -> None:
    """The member's own EHR as a SMART backend client: its private key (held by the EHR) and the
    public JWKS the gateway registers."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = {**public_jwk(key.public_key()), "alg": "ES256", "use": "sig"}
    write_private(folder / f"{client_id}.key", private_key_pem(key))
    write_public(folder / f"{client_id}.jwks.json", json.dumps({"keys": [public]}).encode("utf-8"))
