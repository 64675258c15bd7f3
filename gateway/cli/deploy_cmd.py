"""`medgate deploy render`: a member's production kit (gateway.deploy.kit) from its init folder;
`medgate deploy check`: whether a rendered kit still matches the ledger's member set."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.clock import utcnow
from gateway.deploy.kit import (
    DEFAULT_DATABASE_URL,
    DEFAULT_LEDGER_DATABASE_URL,
    KitOptions,
    render_kit,
)
from gateway.deploy.members import Source
from gateway.deploy.source import read_members
from gateway.deploy.stamp import StampError, read_stamp, staleness
from gateway.deploy.templates import TemplateError
from gateway.errors import ConfigError
from gateway.identity.files import ExistingMaterialError
from gateway.settings import Settings
from ledger.errors import LedgerError


def _list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def register(commands: Any) -> None:
    cmd = commands.add_parser("deploy", help="a member's production kit")
    actions = cmd.add_subparsers(dest="deploy_command", required=True)
    render = actions.add_parser(
        "render", help="render configs, TLS certificates and systemd units for one member host"
    )
    render.add_argument("--config", type=Path, required=True, help="the member's medgate.toml")
    render.add_argument("--out", type=Path, required=True, help="new folder to write the kit to")
    render.add_argument("--host", help="public host name or IP (default: public_url's host)")
    render.add_argument("--port", type=int, help="HTTPS port (default: public_url's, else 8443)")
    render.add_argument("--bind", default="0.0.0.0", help="address the gateway binds")  # noqa: S104
    render.add_argument(
        "--root", type=Path, help="where the kit is installed on the host (default: --out)"
    )
    render.add_argument("--nats-listen", default="0.0.0.0:4222", help="NATS client listener")
    render.add_argument("--nats-cluster-listen", default="0.0.0.0:6222", help="NATS routes")
    render.add_argument("--nats-monitor-listen", default="127.0.0.1:8222", help="monitoring")
    render.add_argument(
        "--nats-peers",
        type=_list,
        default=(),
        help="comma-separated ORG=HOST:PORT overriding a member's NATS cluster listener"
        " (default for each active member: its endpoint's host, this member's cluster port)",
    )
    render.add_argument(
        "--nats-servers",
        type=_list,
        default=(),
        help="comma-separated NATS URLs for the gateway (default: tls://HOST:<client port>)",
    )
    render.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="store URL")
    render.add_argument("--ledger-database-url", default=DEFAULT_LEDGER_DATABASE_URL)
    render.add_argument("--user", default="medgate", help="service user of the units")
    render.add_argument("--group", default="medgate", help="service group of the units")
    render.add_argument("--medgate-bin", help="absolute path of medgate on the host")
    render.add_argument("--nats-server-bin", help="absolute path of nats-server on the host")
    render.add_argument("--ledger-store", help=_LEDGER_STORE_HELP)
    render.set_defaults(run=run)
    check = actions.add_parser(
        "check", help="exit 1 when a kit is older than the ledger's member set (re-render, reload)"
    )
    check.add_argument("--config", type=Path, required=True, help="a medgate.toml of the member")
    check.add_argument("--kit", type=Path, required=True, help="the kit's folder (its kit.json)")
    check.add_argument("--ledger-store", help=_LEDGER_STORE_HELP)
    check.set_defaults(run=run_check)


_LEDGER_STORE_HELP = (
    "ledger store URL to read the members from (default: the config's storage.ledger_url;"
    " the genesis when that store is absent or empty)"
)


def _options(args: argparse.Namespace) -> KitOptions:
    extra = {}
    if args.medgate_bin:
        extra["medgate_bin"] = args.medgate_bin
    if args.nats_server_bin:
        extra["nats_server_bin"] = args.nats_server_bin
    return KitOptions(
        out=args.out,
        host=args.host,
        port=args.port,
        bind=args.bind,
        root=args.root,
        nats_client_listen=args.nats_listen,
        nats_cluster_listen=args.nats_cluster_listen,
        nats_monitor_listen=args.nats_monitor_listen,
        nats_peers=args.nats_peers,
        nats_servers=args.nats_servers,
        database_url=args.database_url,
        ledger_database_url=args.ledger_database_url,
        user=args.user,
        group=args.group,
        ledger_store=args.ledger_store,
        **extra,
    )


def run(args: argparse.Namespace) -> int:
    """Exit 0 rendered, 1 the output folder is not empty, 2 a bad config or option."""
    try:
        settings = Settings.load(args.config)
        kit = render_kit(settings, _options(args), utcnow())
    except ExistingMaterialError as exc:
        print(f"medgate deploy render: refusing to overwrite {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"medgate deploy render: bad config {args.config}: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TemplateError, LedgerError, OSError) as exc:
        print(f"medgate deploy render: {exc}", file=sys.stderr)
        return 2
    print(f"kit of {settings.org} written to {kit.out} ({len(kit.files)} files)")
    print(f"  serves {kit.public_url}")
    print(f"  {kit.members.describe()}: {', '.join(kit.members.orgs)}")
    if kit.members.source is Source.GENESIS:
        print(
            "  warning: no committed block in the ledger store read; members admitted or removed"
            " since the genesis are not reflected (give --ledger-store if the member's ledger is"
            " elsewhere)",
            file=sys.stderr,
        )
    for warning in kit.warnings:
        print(f"  warning: {warning}", file=sys.stderr)
    if kit.registered_endpoint != kit.public_url:
        print(
            f"  warning: the ledger registers {kit.registered_endpoint} as this member's endpoint;"
            " peers call that URL (see the kit's README)",
            file=sys.stderr,
        )
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Exit 0 the kit matches the ledger's members, 1 stale (one line: why), 2 cannot tell."""
    try:
        settings = Settings.load(args.config)
        kit = read_stamp(args.kit)
        current = read_members(settings, args.ledger_store)
    except ConfigError as exc:
        print(f"medgate deploy check: bad config {args.config}: {exc}", file=sys.stderr)
        return 2
    except (StampError, ValueError, LedgerError, OSError) as exc:
        print(f"medgate deploy check: {exc}", file=sys.stderr)
        return 2
    reason = staleness(kit, current)
    if reason is not None:
        print(f"medgate deploy check: {args.kit}: {reason}", file=sys.stderr)
        return 1
    print(f"kit {args.kit} is current: {current.describe()}: {', '.join(current.orgs)}")
    return 0
