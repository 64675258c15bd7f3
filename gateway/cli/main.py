"""`medgate` entry point: parses the command line and hands each command to its module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway.cli import (
    audit_cmd,
    consortium_cmd,
    demo_cmd,
    deploy_cmd,
    governance_cmd,
    init_cmd,
    ledger_cmd,
    member_cmd,
    patient_auth_cmd,
    patient_cmd,
    serve_cmd,
    sign_cmd,
)
from gateway.fileperms import private_files


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medgate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    init_cmd.register(commands)
    serve_cmd.register(commands)
    ledger_cmd.register(commands)
    demo_cmd.register(commands)
    audit_cmd.register(commands)
    patient_cmd.register(commands)
    member_cmd.register(commands)
    consortium_cmd.register(commands)
    sign_cmd.register(commands)
    deploy_cmd.register(commands)
    governance_cmd.register(commands)
    patient_auth_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Databases, logs and keys hold PHI or secrets: whatever a command creates is 0600 / 0700.
    with private_files():
        code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
