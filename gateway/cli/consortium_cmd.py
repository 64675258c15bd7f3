"""`medgate consortium genesis` (assemble an unsigned genesis package from member cards) and
`medgate consortium seal` (check every founder signed; write the genesis and the key shares)."""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from gateway.clock import now_ms
from gateway.identity.card import CardError, MemberCard, read_card
from gateway.identity.ceremony import assemble, parse_quorum, seal
from gateway.identity.files import write_public
from gateway.identity.genesis_package import CeremonyError, Package, package_bytes, read_package
from gateway.identity.join import shares_file_bytes, shares_path
from gateway.identity.policy_terms import policy_terms
from ledger.entries import nonce_from_bytes
from policies.document import default_policy_bytes
from policies.errors import PolicyError


def register(commands: Any) -> None:
    cmd = commands.add_parser("consortium", help="the genesis ceremony: assemble and seal")
    actions = cmd.add_subparsers(dest="action", required=True)
    genesis = actions.add_parser("genesis", help="assemble an unsigned genesis from member cards")
    genesis.add_argument(
        "--card",
        action="append",
        required=True,
        type=Path,
        help="a founder's card.json "
        "(repeat; the first one submits the genesis and draws the patient key)",
    )
    genesis.add_argument("--quorum", default="MAJORITY", help="ALL, MAJORITY or K-of-N")
    genesis.add_argument("--policy", type=Path, help="the policy YAML (default: medgate's own)")
    genesis.add_argument("--name", default="medgate consortium", help="the consortium's name")
    add_fingerprints(genesis)
    genesis.add_argument("--out", required=True, type=Path, help="the package to write")
    genesis.set_defaults(run=run_genesis)
    sealer = actions.add_parser("seal", help="check every founder signed; write the genesis")
    sealer.add_argument("package", type=Path, help="the package every founder has signed")
    sealer.add_argument("--out", required=True, type=Path, help="the genesis file to write")
    sealer.add_argument(
        "--shares", type=Path, help="the patient-key shares file (default: beside --out)"
    )
    sealer.set_defaults(run=run_seal)


def add_fingerprints(cmd: Any) -> None:
    cmd.add_argument(
        "--fingerprint",
        action="append",
        default=[],
        metavar="ORG=HEX",
        help="a card fingerprint you confirmed out of band (repeat): a mismatch is refused",
    )


def check_fingerprints(cards: Sequence[MemberCard], expected: Sequence[str]) -> None:
    """Raise CeremonyError when a confirmed ``ORG=HEX`` fingerprint is not the card's."""
    by_org = {card.org: card.fingerprint for card in cards}
    for item in expected:
        org, sep, fingerprint = item.partition("=")
        if not sep or org not in by_org:
            raise CeremonyError(f"--fingerprint {item!r}: expected ORG=HEX for a founder")
        if by_org[org] != fingerprint.strip().lower():
            raise CeremonyError(
                f"{org}'s card has fingerprint {by_org[org]}, not the {fingerprint} you confirmed"
            )


def describe(package: Package) -> Iterator[str]:
    """What a founder signs, for people: the digest, the founders and their fingerprints."""
    body = package.tx["body"]
    quorum = body["quorum"]
    rule = f"{quorum['k']}-of-{len(package.cards)}" if "k" in quorum else quorum["rule"]
    yield f"genesis of {body['name']!r}"
    yield f"  tx digest (the consortium id once sealed) {package.tx_id}"
    yield f"  quorum  {rule}"
    yield f"  policy  {body['policy']['version']} sha256 {body['policy']['digest']}"
    yield "  founders (compare every fingerprint with its member, out of band):"
    for number, card in enumerate(package.cards):
        signed = "signed" if package.signed_by(card.org) else "not signed"
        first = " (submits)" if number == 0 else ""
        yield f"    {card.org:<14} {card.role:<9} {card.endpoint}{first}  [{signed}]"
        yield f"      fingerprint {card.fingerprint}"


def fail(command: str, exc: Exception, code: int = 1) -> int:
    print(f"medgate {command}: {exc}", file=sys.stderr)
    return code


def run_genesis(args: argparse.Namespace) -> int:
    try:
        cards = [read_card(path) for path in args.card]
        check_fingerprints(cards, args.fingerprint)
        raw = args.policy.read_bytes() if args.policy else default_policy_bytes()
        package = assemble(
            cards,
            args.name,
            parse_quorum(args.quorum, len(cards)),
            policy_terms(raw),
            now_ms(),
            nonce_from_bytes(secrets.token_bytes(16)),
        )
        write_public(args.out, package_bytes(package))
    except (CardError, CeremonyError, PolicyError, OSError) as exc:
        return fail("consortium genesis", exc)
    for line in describe(package):
        print(line)
    print(f"unsigned package written to {args.out}: each founder signs it in turn")
    print(f"  medgate sign --config ORG/medgate.toml {args.out} SIGNED.json")
    return 0


def run_seal(args: argparse.Namespace) -> int:
    shares_out: Path = args.shares or shares_path(args.out)
    try:
        sealed = seal(read_package(args.package))
        for path in (args.out, shares_out):
            if path.exists():
                raise CeremonyError(f"{path} exists: refusing to overwrite it")
        write_public(args.out, sealed.leaf)
        write_public(shares_out, shares_file_bytes(sealed.consortium, sealed.shares))
    except (CeremonyError, OSError) as exc:
        return fail("consortium seal", exc)
    print(f"consortium {sealed.consortium} sealed: every founder signed")
    print(f"  genesis             {args.out}")
    print(f"  patient-key shares  {shares_out}  (each share encrypted to one founder)")
    print(f"  patient key check   {sealed.shares.check}")
    print(
        "each founder installs both: medgate member join --config ORG/medgate.toml "
        f"--genesis {args.out}"
    )
    return 0
