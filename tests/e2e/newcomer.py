"""A member that joins a running consortium, each side with its own CLI and its own keys only: the
newcomer runs `medgate member keygen` (its folder, keys and public card); a founder runs `medgate
member share-key` (the consortium's patient-pseudonym key sealed to the newcomer's card alone) and
the newcomer `medgate member join` (opens it with its own key, installs the public genesis and the
consortium id). The others only ever see its card.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.identity.card import read_card
from tests.e2e.gateways import MEDGATE


def _medgate(*args: str) -> str:
    done = subprocess.run([MEDGATE, *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"medgate {args[:2]}: {done.stderr}"
    return done.stdout


def keygen(root: Path, org: str, role: str, url: str) -> Path:
    """`medgate member keygen` as the newcomer runs it; its card file."""
    _medgate("member", "keygen", "--dir", str(root), "--org", org, "--role", role, "--url", url)
    return root / org / "card.json"


def hand_over(founder: Path, newcomer: Path) -> str:
    """share-key at the founder, join at the newcomer; the patient key check value join prints."""
    card = newcomer / "card.json"
    handover = founder.parent / f"{newcomer.name}.handover.json"
    fingerprint = f"{newcomer.name}={read_card(card).fingerprint}"
    _medgate(
        "member", "share-key", "--config", str(founder / "medgate.toml"),
        "--card", str(card), "--fingerprint", fingerprint, "--out", str(handover),
    )  # fmt: skip
    genesis = founder.parent / "consortium" / "genesis.json"
    joined = _medgate(
        "member", "join", "--config", str(newcomer / "medgate.toml"),
        "--genesis", str(genesis), "--shares", str(handover),
    )  # fmt: skip
    return joined.split("patient key check ")[1].split()[0]


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
