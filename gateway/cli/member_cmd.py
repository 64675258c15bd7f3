"""`medgate member keygen` (a member makes its own keys and card), `medgate member join` (it
installs the sealed genesis and its share of the patient key), `medgate member share-key` (a
member hands the patient key over, encrypted, to a member admitted later) and `medgate member
rotate` (gateway.cli.rotate_cmd)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.cli import rotate_cmd
from gateway.cli.consortium_cmd import add_fingerprints, check_fingerprints
from gateway.clock import utcnow
from gateway.identity.card import CardError, read_card
from gateway.identity.files import ExistingMaterialError, write_public
from gateway.identity.genesis_package import CeremonyError
from gateway.identity.join import hand_over, join, shares_path
from gateway.identity.member_config import MemberConfigError
from gateway.identity.member_keys import CARD_FILE, ROLES, NewMember, generate_member


def register(commands: Any) -> None:
    cmd = commands.add_parser("member", help="a member's own keys and card; joining a consortium")
    actions = cmd.add_subparsers(dest="action", required=True)
    keygen = actions.add_parser(
        "keygen", help="write one member's private keys, certificates, config and public card"
    )
    keygen.add_argument("--dir", required=True, type=Path, help="writes DIR/ORG/")
    keygen.add_argument("--org", required=True, help="the member id, e.g. hospital-a")
    keygen.add_argument("--role", required=True, choices=ROLES)
    keygen.add_argument("--url", required=True, help="the gateway's public URL")
    keygen.add_argument("--name", default=None, help="display name (default: the member id)")
    keygen.add_argument("--pq", action="store_true", help="ML-KEM-768+X25519 encryption key")
    keygen.set_defaults(run=run_keygen)
    join = actions.add_parser(
        "join", help="install the sealed genesis and this founder's share of the patient key"
    )
    join.add_argument("--config", required=True, type=Path, help="this member's medgate.toml")
    join.add_argument("--genesis", required=True, type=Path, help="the sealed genesis file")
    join.add_argument("--shares", type=Path, help="the shares file (default: beside --genesis)")
    join.add_argument(
        "--sender-card", type=Path, help="the card of the member who shared the key, if no founder"
    )
    join.set_defaults(run=run_join)
    share = actions.add_parser(
        "share-key", help="hand the patient key over to a member admitted later (encrypted)"
    )
    share.add_argument("--config", required=True, type=Path, help="this (joined) member's config")
    share.add_argument("--card", required=True, type=Path, help="the newcomer's card.json")
    add_fingerprints(share)
    share.add_argument("--out", required=True, type=Path, help="the shares file to write")
    share.set_defaults(run=run_share_key)
    rotate_cmd.add_rotate(actions)


def run_keygen(args: argparse.Namespace) -> int:
    folder: Path = args.dir / args.org
    spec = NewMember(args.org, args.role, args.url, post_quantum=args.pq, name=args.name)
    try:
        card = generate_member(folder, spec, utcnow())
    except ExistingMaterialError as exc:
        print(f"medgate member keygen: refusing to overwrite {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"medgate member keygen: {exc}", file=sys.stderr)
        return 2
    print(f"member {card.org} ({card.role}, {card.endpoint}) written to {folder}")
    print(f"  card        {folder / CARD_FILE}  (public: send it to the other founders)")
    print(f"  fingerprint {card.fingerprint}")
    print("  read the fingerprint to the others out of band; keep keys/ in this folder only")
    return 0


def run_join(args: argparse.Namespace) -> int:
    shares: Path = args.shares or shares_path(args.genesis)
    try:
        sender = read_card(args.sender_card) if args.sender_card else None
        joined = join(args.config, args.genesis.read_bytes(), shares.read_bytes(), sender)
    except (CardError, CeremonyError, MemberConfigError, OSError) as exc:
        print(f"medgate member join: {exc}", file=sys.stderr)
        return 1
    print(f"{joined.org} joined consortium {joined.consortium}")
    print("  keys/patient.key written (0600); genesis and consortium id set in its config")
    print(f"  patient key check {joined.check}")
    print("  compare the check with every other member out of band: it must be the same")
    return 0


def run_share_key(args: argparse.Namespace) -> int:
    try:
        card = read_card(args.card)
        check_fingerprints([card], args.fingerprint)
        shares = hand_over(args.config, card)
        write_public(args.out, shares)
    except (CardError, CeremonyError, MemberConfigError, OSError) as exc:
        print(f"medgate member share-key: {exc}", file=sys.stderr)
        return 1
    print(f"the patient key, sealed to {card.org} alone (card {card.fingerprint}), in {args.out}")
    print(
        f"  {card.org} installs it: medgate member join --config ORG/medgate.toml --genesis G "
        f"--shares {args.out} --sender-card YOUR/card.json"
    )
    return 0
