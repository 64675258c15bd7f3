"""`medgate propose`, `medgate proposals`, `medgate endorse`: governance on a running network.

Each command talks to the member's own gateway (its medgate.toml's public_url) as the operator's
SMART client; the gateway signs with the member's own key. Exit codes: 0 done; 1 the gateway
refused (its OperationOutcome's diagnostics on stderr); 2 bad arguments, config or input file;
3 the gateway could not be reached. See docs/governance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from gateway.cli.operator_client import Answer, OperatorClient, OperatorError, operator_client_id
from gateway.identity.card import CardError, MemberCard, read_card
from gateway.settings import Settings
from policies.document import load_policy, policy_digest

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
RULES = ("ALL", "MAJORITY", "K_OF_N")
CARD_KEYS = ("signing", "encryption", "ca")


class UsageError(Exception):
    """Bad arguments or an unreadable input file (exit 2)."""


def _common(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--config", type=Path, required=True, help="the member's medgate.toml")
    cmd.add_argument("--client", help="the operator client id (default: the one with Ledger.write)")
    cmd.add_argument("--client-key", type=Path, help="its key (default clients/<client>.key)")
    cmd.add_argument("--json", action="store_true", help="print the gateway's JSON answer")


def register(commands: Any) -> None:
    propose = commands.add_parser("propose", help="propose a governance change to the consortium")
    kinds = propose.add_subparsers(dest="kind", required=True)
    add = kinds.add_parser("member.add", help="admit a member from its card")
    add.add_argument("--card", type=Path, required=True, help="the newcomer's member card")
    update = kinds.add_parser("member.update", help="rotate a member's keys or move its endpoint")
    update.add_argument("--org", required=True)
    update.add_argument("--endpoint", help="the member's new gateway URL")
    update.add_argument("--card", type=Path, help="the member's new card: keys taken from it")
    update.add_argument(
        "--card-keys",
        default=",".join(CARD_KEYS),
        help="which of the card's keys: signing (added), encryption, ca (default all)",
    )
    update.add_argument("--retire-kid", help="a signing key id to retire")
    remove = kinds.add_parser("member.remove", help="remove a member")
    remove.add_argument("org")
    policy = kinds.add_parser("policy.set", help="a new consortium policy version (YAML)")
    policy.add_argument("--policy", type=Path, required=True, help="the policy YAML file")
    policy.add_argument("--quorum", choices=RULES, help="and a new quorum rule")
    policy.add_argument("--k", type=int, help="k of K_OF_N")
    for cmd in (add, update, remove, policy):
        _common(cmd)
        cmd.add_argument("--ttl", type=int, help="seconds until it expires (default 72 h)")
        cmd.set_defaults(run=run_propose)
    listing = commands.add_parser("proposals", help="list the consortium's governance proposals")
    _common(listing)
    listing.add_argument("id", nargs="?", help="show one proposal in full")
    listing.set_defaults(run=run_proposals)
    endorse = commands.add_parser("endorse", help="endorse a proposal with this member's key")
    _common(endorse)
    endorse.add_argument("id", help="the proposal id (16 hex digits)")
    endorse.add_argument("--digest", help="the digest you reviewed (64 hex): refused otherwise")
    endorse.set_defaults(run=run_endorse)


def _card(path: Path) -> MemberCard:
    try:
        return read_card(path)
    except CardError as exc:
        raise UsageError(str(exc)) from exc


def _policy_body(args: argparse.Namespace) -> dict[str, Any]:
    try:
        raw = args.policy.read_bytes()
        doc = load_policy(raw)
    except Exception as exc:  # OSError, PolicyError: the file is not a policy we can propose
        raise UsageError(f"{args.policy}: {exc}") from exc
    body: dict[str, Any] = {"version": doc.version, "digest": policy_digest(raw)}
    if args.quorum is not None:
        if (args.quorum == "K_OF_N") != (args.k is not None):
            raise UsageError("--k goes with --quorum K_OF_N, and only with it")
        body["quorum"] = {"rule": args.quorum} | ({} if args.k is None else {"k": args.k})
    return body


def _update_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"org": args.org}
    if args.endpoint:
        body["endpoint"] = args.endpoint
    if args.retire_kid:
        body["retire_kid"] = args.retire_kid
    if args.card is not None:
        card = _card(args.card)
        if card.org != args.org:
            raise UsageError(f"the card is {card.org}'s, not {args.org}'s")
        wanted = {k.strip() for k in args.card_keys.split(",") if k.strip()}
        if not wanted <= set(CARD_KEYS):
            raise UsageError(f"--card-keys: choose among {', '.join(CARD_KEYS)}")
        if "signing" in wanted:
            body["add_signing_key"] = dict(card.member["signing_keys"][-1])
        if "encryption" in wanted:
            body["encryption_keys"] = list(card.member["encryption_keys"])
        if "ca" in wanted:
            body["ca_chain"] = list(card.member["ca_chain"])
    if len(body) == 1:
        raise UsageError("member.update needs --endpoint, --card or --retire-kid")
    return body


def proposal_body(args: argparse.Namespace) -> dict[str, Any]:
    """The entry body the arguments describe. Raises UsageError."""
    if args.kind == "member.add":
        return {"member": _card(args.card).member_record()}
    if args.kind == "member.update":
        return _update_body(args)
    if args.kind == "member.remove":
        return {"org": args.org}
    return _policy_body(args)


def _client(args: argparse.Namespace) -> OperatorClient:
    try:
        settings = Settings.load(args.config)
    except Exception as exc:  # ConfigError and the file's own errors
        raise UsageError(f"cannot load {args.config}: {exc}") from exc
    client_id = operator_client_id(settings, args.client)
    key = args.client_key or settings.config_dir / "clients" / f"{client_id}.key"
    return OperatorClient(settings, client_id, key)


def _run(args: argparse.Namespace, method: str, path: str, body: Any, show: Any) -> int:
    name = f"medgate {args.command}"
    try:
        client = _client(args)
        answer: Answer = asyncio.run(client.call(method, path, body))
    except UsageError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OperatorError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE if "cannot reach" in str(exc) else EXIT_USAGE
    if answer.status != 200:
        print(f"{name}: refused (HTTP {answer.status}): {answer.problem}", file=sys.stderr)
        return EXIT_REFUSED
    if args.json:
        print(json.dumps(answer.body, indent=2))
    else:
        show(answer.body)
    return EXIT_OK


def run_propose(args: argparse.Namespace) -> int:
    try:
        body = proposal_body(args)
    except UsageError as exc:
        print(f"medgate propose: {exc}", file=sys.stderr)
        return EXIT_USAGE
    request: dict[str, Any] = {"type": args.kind, "body": body}
    if args.ttl is not None:
        request["ttl_seconds"] = args.ttl
    return _run(args, "POST", "/governance/proposals", request, _show_proposed)


def run_proposals(args: argparse.Namespace) -> int:
    if args.id:
        return _run(args, "GET", f"/governance/proposals/{args.id}", None, _show_full)
    return _run(args, "GET", "/governance/proposals", None, _show_list)


def run_endorse(args: argparse.Namespace) -> int:
    body = None if args.digest is None else {"digest": args.digest}
    path = f"/governance/proposals/{args.id}/endorsements"
    return _run(args, "POST", path, body, _show_endorsed)


def summary(p: dict[str, Any]) -> str:
    """One line: id, type, proposer, status, signers of needed, and the entry's block if any."""
    q = p["quorum"]
    signed = f"{len(q['signers'])}/{q['needed'] if q['needed'] is not None else '-'} signed"
    where = "" if p["entry"] is None else f" at height {p['entry']['height']}"
    return f"{p['id']}  {p['type']:<13} by {p['proposer']:<12} {p['status']}{where}  {signed}"


def _show_proposed(p: dict[str, Any]) -> None:
    print(f"proposed {p['id']} ({p['type']}), digest {p['digest']}")
    print(f"  status {p['status']}; expires at {p['expires_ms']} ms; reviewers endorse with:")
    print(f"  medgate endorse --config <their medgate.toml> {p['id']} --digest {p['digest']}")


def _show_list(body: dict[str, Any]) -> None:
    if not body["proposals"]:
        print("no proposals")
    for p in body["proposals"]:
        print(summary(p))


def _show_full(p: dict[str, Any]) -> None:
    print(summary(p))
    print(json.dumps(p, indent=2))


def _show_endorsed(p: dict[str, Any]) -> None:
    print(summary(p))
    if p["status"] == "committed":
        print(f"  quorum met: committed at height {p['entry']['height']}")
