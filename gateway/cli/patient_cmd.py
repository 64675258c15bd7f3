"""`medgate patient-token`: a fresh patient sign-in for a demo or test hospital.

It does what a hospital's patient portal backend does once it has authenticated the patient: as
the member's registered SMART client ``ehr`` (key ``clients/ehr.key`` beside the config), it gets a
system token and calls ``POST /patient/token`` on the running gateway with the patient's
identifier. The printed token is valid 15 minutes; run the command again for another. Production
portals authenticate the patient first; this command trusts whoever can read the client key.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp

from gateway.demo.client import EhrClient
from gateway.demo.synthetic import MRN_SYSTEM
from gateway.errors import ConfigError
from gateway.settings import Settings


def register(commands: Any) -> None:
    cmd = commands.add_parser("patient-token", help="issue a patient sign-in token (demo, tests)")
    cmd.add_argument("identifier", help="the patient's identifier value, e.g. MRN-0001")
    cmd.add_argument("--system", default=MRN_SYSTEM, help="the identifier's system")
    cmd.add_argument("--config", type=Path, required=True, help="the hospital's medgate.toml")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load(args.config)
    except ConfigError as exc:
        print(f"patient-token: {exc}", file=sys.stderr)
        return 2
    try:
        token = asyncio.run(_issue(settings, args.config.parent, args.system, args.identifier))
    except (aiohttp.ClientError, OSError, RuntimeError) as exc:
        print(
            f"patient-token: {settings.public_url} refused or unreachable: {exc}", file=sys.stderr
        )
        return 1
    print(token)
    return 0


async def _issue(settings: Settings, member_dir: Path, system: str, value: str) -> str:
    async with aiohttp.ClientSession() as session:
        ehr = EhrClient(session, member_dir, settings.public_url)
        body = {"identifier": {"system": system, "value": value}}
        reply = await ehr.call("POST", "/patient/token", body)
    if reply.status != 200 or not isinstance(reply.body, dict):
        raise RuntimeError(f"HTTP {reply.status}")
    return str(reply.body["access_token"])
