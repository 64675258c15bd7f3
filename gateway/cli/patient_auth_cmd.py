"""`medgate patient invite`: a one-time invitation code for a patient this hospital holds.

Run by the hospital's staff on a machine with the member's config and database: it writes the
invitation (its secret only as a digest) to the member's store, where every replica of the running
gateway reads it, and prints the code and where to sign in. The code is handed to the patient out
of band (letter, desk); it never appears in a URL.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from gateway import clock as wall_clock
from gateway.demo.synthetic import MRN_SYSTEM
from gateway.errors import ConfigError, GatewayError
from gateway.identity.pseudonym import load_patient_key, patient_ref
from gateway.patientauth.guessing import GuessLimiter
from gateway.patientauth.invitations import Invitations, IssuedInvitation
from gateway.patientauth.signin import PORTAL_PATH
from gateway.patientauth.tables import SignInTables
from gateway.services.patients import PatientIndex
from gateway.settings import Settings
from gateway.store.fhir_store import FhirStore
from ledger.ids import PatientRef

T = TypeVar("T")


def register(commands: Any) -> None:
    group = commands.add_parser("patient", help="patient sign-in: invitation codes")
    actions = group.add_subparsers(dest="action", required=True)
    invite = actions.add_parser("invite", help="print a one-time sign-in code for a patient")
    invite.add_argument("identifier", help="the patient's identifier value, e.g. MRN-0001")
    invite.add_argument("--system", default=MRN_SYSTEM, help="the identifier's system")
    invite.add_argument("--config", type=Path, required=True, help="the hospital's medgate.toml")
    invite.set_defaults(run=run_invite)
    revoke = actions.add_parser(
        "revoke", help="end every sign-in session of a patient and void their unused codes"
    )
    revoke.add_argument("identifier", help="the patient's identifier value, e.g. MRN-0001")
    revoke.add_argument("--system", default=MRN_SYSTEM, help="the identifier's system")
    revoke.add_argument("--config", type=Path, required=True, help="the hospital's medgate.toml")
    revoke.set_defaults(run=run_revoke)


@contextmanager
def held_patient(
    settings: Settings, system: str, value: str
) -> Iterator[tuple[FhirStore, PatientRef | None]]:
    """The member's store, and the patient's ref when the hospital holds the patient (else None)."""
    key = load_patient_key(settings.keys.patient_key.read_bytes())
    store = FhirStore.from_url(settings.storage.url)
    try:
        ref = patient_ref(key, system, value)
        held = bool(PatientIndex(store, key).local_ids(ref))
        yield store, (ref if held else None)
    finally:
        store.close()


def invite(settings: Settings, system: str, value: str, now: int) -> IssuedInvitation | None:
    """A new invitation for the patient; None when the hospital holds no such patient."""
    conf = settings.patient_auth
    with held_patient(settings, system, value) as (store, ref):
        if ref is None:
            return None
        tables = SignInTables(store.engine)
        limiter = GuessLimiter(tables, conf.max_failures, conf.lockout_seconds)
        tables.purge(now)  # expired invitations, codes and sessions: nothing left to redeem
        invitations = Invitations(tables, limiter, conf.invitation_seconds, conf.max_failures)
        return invitations.issue(ref, now)


def for_held_patient(
    command: str, args: argparse.Namespace, action: Callable[[Settings, str, str, int], T | None]
) -> tuple[Settings, T] | int:
    """Load ``args.config`` and run ``action(settings, system, identifier, now)`` for the patient
    ``args`` names: the settings and its result, or, once the reason is printed, the exit code
    (2 a bad config; 1 refused, or a patient the hospital does not hold)."""
    try:
        settings = Settings.load(args.config)
    except ConfigError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 2
    try:
        result = action(settings, args.system, args.identifier, wall_clock.now_ms() // 1000)
    except GatewayError as exc:
        print(f"{command}: {exc.diagnostics}", file=sys.stderr)
        return 1
    if result is None:
        print(f"{command}: this hospital holds no patient with that identifier", file=sys.stderr)
        return 1
    return settings, result


def run_invite(args: argparse.Namespace) -> int:
    outcome = for_held_patient("patient invite", args, invite)
    if isinstance(outcome, int):
        return outcome
    settings, issued = outcome
    expires = datetime.fromtimestamp(issued.expires_at, tz=UTC).isoformat().replace("+00:00", "Z")
    print(f"invitation code: {issued.code}")
    print(f"sign in at:      {settings.public_url}{PORTAL_PATH}")
    print(f"expires:         {expires} (single use)")
    return 0


def revoke(settings: Settings, system: str, value: str) -> int:
    """End the patient's sessions and void their unused invitations; the sessions ended."""
    key = load_patient_key(settings.keys.patient_key.read_bytes())
    store = FhirStore.from_url(settings.storage.url)
    try:
        return SignInTables(store.engine).revoke_patient(patient_ref(key, system, value))
    finally:
        store.close()


def run_revoke(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load(args.config)
    except ConfigError as exc:
        print(f"patient revoke: {exc}", file=sys.stderr)
        return 2
    try:
        ended = revoke(settings, args.system, args.identifier)
    except GatewayError as exc:
        print(f"patient revoke: {exc.diagnostics}", file=sys.stderr)
        return 1
    print(f"sessions ended: {ended}; unused invitation codes voided")
    return 0
