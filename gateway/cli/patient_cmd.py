"""`medgate patient-token`: a patient token minted by the operator (demo, tests, support).

It signs the token itself with the member's token key (``keys.token_key``), the key the running
gateway verifies patient tokens with: whoever can read that key can mint tokens anyway, so the
command needs no SMART client and no scope. Like ``POST /patient/token`` it refuses a patient the
hospital does not hold (it reads the member's store) and logs each minting as one JSON line on
stderr (patient_ref, never the identifier). The token is valid 15 minutes. Patients themselves
sign in at the portal (docs/patient-sign-in.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from gateway.auth.keys import load_p256_private
from gateway.cli.patient_auth_cmd import for_held_patient, held_patient
from gateway.demo.synthetic import MRN_SYSTEM
from gateway.identity.pseudonym import load_patient_key
from gateway.services.patient_tokens import PatientTokens
from gateway.settings import Settings


def register(commands: Any) -> None:
    cmd = commands.add_parser("patient-token", help="mint a patient token (operators, demo, tests)")
    cmd.add_argument("identifier", help="the patient's identifier value, e.g. MRN-0001")
    cmd.add_argument("--system", default=MRN_SYSTEM, help="the identifier's system")
    cmd.add_argument("--config", type=Path, required=True, help="the hospital's medgate.toml")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    outcome = for_held_patient("patient-token", args, mint)
    if isinstance(outcome, int):
        return outcome
    _, token = outcome
    print(token)
    return 0


def mint(settings: Settings, system: str, value: str, now: int) -> str | None:
    """A patient token for the patient, or None when the hospital holds no such patient."""
    key = load_p256_private(settings.keys.token_key)
    patient_key = load_patient_key(settings.keys.patient_key.read_bytes())
    tokens = PatientTokens(settings.public_url, key, patient_key)
    with held_patient(settings, system, value) as (_, ref):
        if ref is None:
            return None
    issued = tokens.issue(ref, now)
    line = {"event": "patient_token.minted", "patient_ref": ref, "client_id": "operator-cli"}
    print(orjson.dumps(line).decode(), file=sys.stderr)
    return issued.access_token
