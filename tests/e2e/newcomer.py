"""A member that joins a running consortium: its own folder and keys, made on its own side, and the
public member card it hands to the others (the only thing of it they ever see).

Built with the same steps `medgate init` uses for a founder (gateway.identity.consortium); the
consortium's shared patient-pseudonym key is handed over as the consortium hands it to a newcomer
(it is a consortium secret, not any member's private key).
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth.keys import public_jwk
from gateway.clock import utcnow
from gateway.identity.card import MemberCard, card_bytes, card_from_json
from gateway.identity.config_file import render_config
from gateway.identity.consortium import MemberSpec, _write_member
from gateway.identity.files import write_public
from ledger.signing import generate_signing_key


def make_newcomer(
    root: Path, org: str, role: str, url: str, consortium_id: str, patient_key: bytes
) -> tuple[Path, Path]:
    """The newcomer's folder under ``root`` (beside the founders', sharing the machine's solo
    ordering log) and its card file; returns (folder, card path)."""
    folder = root / org
    signing = generate_signing_key()
    record = _write_member(folder, MemberSpec(org, role), url, signing, patient_key, utcnow())
    config = render_config(org, role, consortium_id, url)
    write_public(folder / "medgate.toml", config.encode("utf-8"))
    token = serialization.load_pem_private_key((folder / "keys" / "token.key").read_bytes(), None)
    assert isinstance(token, ec.EllipticCurvePrivateKey)
    member = {k: v for k, v in record.items() if k != "status"}
    jwks = {"keys": [{**public_jwk(token.public_key()), "alg": "ES256", "use": "sig"}]}
    card: MemberCard = card_from_json(json.loads(json.dumps({
        "medgate_member_card": 1, "member": member, "token_jwks": jwks
    })))  # fmt: skip
    card_path = root / f"{org}.card.json"
    write_public(card_path, card_bytes(card))
    return folder, card_path


def private_material(folder: Path) -> set[str]:
    """Every private key in ``folder``, whatever file it was copied into: the private scalar of
    each PEM private key, and the ``d`` of each private JWK (the encryption keys). The
    consortium's shared patient-pseudonym key is not a member's key (every member holds it)."""
    found: set[str] = set()
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name == "patient.key":
            continue
        data = path.read_bytes()
        if b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, None)
            assert isinstance(key, ec.EllipticCurvePrivateKey), path
            found.add(f"ec:{key.private_numbers().private_value}")
        elif path.suffix == ".json" and b'"d"' in data:
            found |= {f"jwk:{d}" for d in _jwk_ds(json.loads(data))}
    return found


def _jwk_ds(value: object) -> list[str]:
    if isinstance(value, dict):
        own = [str(value["d"])] if isinstance(value.get("d"), str) else []
        return own + [d for v in value.values() for d in _jwk_ds(v)]
    if isinstance(value, list):
        return [d for v in value for d in _jwk_ds(v)]
    return []
