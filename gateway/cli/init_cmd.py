"""`medgate init`: create a new consortium's members, key material, configs and genesis block."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.identity.consortium import MemberSpec, create_consortium
from gateway.identity.files import ExistingMaterialError

ROLES = ("hospital", "insurer", "agency")


def register(commands: Any) -> None:
    cmd = commands.add_parser("init", help="create a consortium: members, keys, configs, genesis")
    cmd.add_argument("--dir", required=True, type=Path, help="folder to create the consortium in")
    cmd.add_argument(
        "--org",
        action="append",
        required=True,
        metavar="ID:ROLE",
        help="a member, e.g. hospital-a:hospital (repeat; roles: hospital, insurer, agency)",
    )
    cmd.add_argument("--name", default="medgate consortium", help="the consortium's name")
    cmd.add_argument("--base-port", type=int, default=8401, help="first member's HTTP port")
    cmd.add_argument(
        "--pq", action="append", default=[], metavar="ID", help="give this member ML-KEM-768+X25519"
    )
    cmd.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="ID=URL",
        help="a member's public URL on its own host, e.g. hospital-a=https://gw.hospital-a.example:8443"
        " (default http://127.0.0.1:<port>, a one-machine loopback consortium)",
    )
    cmd.set_defaults(run=run)


def parse_member(text: str, pq: set[str]) -> MemberSpec:
    org, sep, role = text.partition(":")
    if not sep or role not in ROLES or not org:
        raise SystemExit(f"--org {text!r}: expected ID:ROLE with ROLE one of {', '.join(ROLES)}")
    return MemberSpec(org=org, role=role, post_quantum=org in pq)


def parse_url(text: str) -> tuple[str, str]:
    org, sep, url = text.partition("=")
    if not sep or not url.startswith(("https://", "http://")):
        raise SystemExit(f"--url {text!r}: expected ID=URL with an https:// (or http://) URL")
    return org, url.rstrip("/")


def run(args: argparse.Namespace) -> int:
    members = [parse_member(text, set(args.pq)) for text in args.org]
    urls = dict(parse_url(text) for text in args.url)
    try:
        result = create_consortium(
            args.dir, args.name, members, base_port=args.base_port, urls=urls
        )
    except (ExistingMaterialError, FileExistsError) as exc:
        print(f"medgate init: refusing to overwrite existing material: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"medgate init: {exc}", file=sys.stderr)
        return 2
    print(f"consortium {result.consortium_id} created in {args.dir}")
    for member in result.members:
        print(f"  {member.org:<14} {member.role:<9} {member.public_url}  config {member.config}")
    return 0
