"""A member that joins a running consortium: its own folder, keys and card made by `medgate member
keygen` on its own side, and the consortium's patient-pseudonym key handed to it sealed to its
encryption key (from its card) by one founder, opened with its own key: never in clear in a file
anyone else reads. The others only ever see its card.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.identity.card import read_card
from gateway.identity.files import load_private_key, write_private, write_public
from gateway.identity.join import checked_genesis
from gateway.identity.member_config import read_member_config, set_consortium
from gateway.identity.patient_share import open_share, share_patient_key
from gateway.identity.pseudonym import load_patient_key
from tests.e2e.gateways import MEDGATE


def keygen(root: Path, org: str, role: str, url: str) -> Path:
    """`medgate member keygen` as the newcomer runs it; its card file."""
    cmd = [MEDGATE, "member", "keygen", "--dir", str(root), "--org", org, "--role", role]
    done = subprocess.run(
        [*cmd, "--url", url], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return root / org / "card.json"


def hand_over(founder: Path, newcomer: Path) -> str:
    """The founder seals its patient key to the newcomer's card (the founder's own keys only);
    the newcomer opens it (its own keys only), installs it, the (public) genesis and the
    consortium's id. Returns the
    consortium id. Both folders sit on this machine beside the shared genesis and solo log."""
    ours = read_member_config(founder / "medgate.toml")
    theirs = read_member_config(newcomer / "medgate.toml")
    consortium, founders, _ = checked_genesis(ours.genesis.read_bytes())
    card = read_card(newcomer / "card.json")
    shares = share_patient_key(
        load_patient_key(ours.patient_key.read_bytes()),
        consortium,
        ours.org,
        load_private_key(ours.signing_key),
        [card],
    )
    private_jwk = json.loads(theirs.encryption_key.read_bytes())
    key = open_share(shares, theirs.org, private_jwk, founders[ours.org], consortium)
    write_private(theirs.patient_key, base64.urlsafe_b64encode(key).rstrip(b"="))
    write_public(theirs.genesis, ours.genesis.read_bytes())  # public: every member holds it
    set_consortium(theirs, consortium)
    return consortium


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
