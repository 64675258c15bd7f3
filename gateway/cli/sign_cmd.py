"""`medgate sign --config ORG/medgate.toml IN OUT`: one founder adds its signature to a genesis
package with its own key, after showing what it signs."""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path
from typing import Any

from gateway.cli.consortium_cmd import add_fingerprints, check_fingerprints, describe, fail
from gateway.crypto.errors import EnvelopeError
from gateway.crypto.keys import read_jwk
from gateway.fileperms import replace_private
from gateway.identity.ceremony import Signer, sign
from gateway.identity.files import load_private_key, write_public
from gateway.identity.genesis_package import CeremonyError, package_bytes, read_package
from gateway.identity.member_config import MemberConfigError, read_member_config
from gateway.identity.patient_share import PATIENT_KEY_BYTES


def register(commands: Any) -> None:
    cmd = commands.add_parser("sign", help="a founder signs a genesis package with its own key")
    cmd.add_argument("--config", required=True, type=Path, help="this founder's medgate.toml")
    cmd.add_argument("package", type=Path, help="the package to sign")
    cmd.add_argument("out", type=Path, help="the signed package to write (may be the same file)")
    add_fingerprints(cmd)
    cmd.set_defaults(run=run)


def load_signer(config_path: Path) -> Signer:
    """The founder of ``config_path`` with its own keys. Raises CeremonyError."""
    try:
        config = read_member_config(config_path)
        signing = load_private_key(config.signing_key)
        encryption = read_jwk(config.encryption_key)
    except (MemberConfigError, OSError, ValueError, EnvelopeError) as exc:
        raise CeremonyError(f"this member's own keys cannot be read: {exc}") from exc
    return Signer(config.org, signing, encryption)


def run(args: argparse.Namespace) -> int:
    try:
        signer = load_signer(args.config)
        package = read_package(args.package)
        check_fingerprints(package.cards, args.fingerprint)
        for line in describe(package):
            print(line)
        signed = sign(package, signer, secrets.token_bytes(PATIENT_KEY_BYTES))
        same = args.out.exists() and os.path.samefile(args.out, args.package)
        if args.out.exists() and not same:
            raise CeremonyError(f"{args.out} exists: refusing to overwrite it")
        data = package_bytes(signed)
        if same:
            replace_private(args.out, data)
        else:
            write_public(args.out, data)
    except (CeremonyError, OSError) as exc:
        return fail("sign", exc)
    print(f"{signer.org} signed tx {signed.tx_id} with its own key")
    if signed.patient_key is not None and signer.org == signed.founders[0]:
        print(f"  {signer.org} drew the patient key and sealed one share to each founder")
    waiting = [org for org in signed.founders if signed.signed_by(org) is None]
    print(f"  still to sign: {', '.join(waiting)}" if waiting else "  every founder has signed")
    return 0
