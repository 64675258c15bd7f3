"""Invitation codes against guessing: refused with 429 OperationOutcome after N wrong attempts from
one address, and an invitation locked after N wrong secrets whoever sends them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.errors import AuthError, RateLimitedError
from gateway.patientauth.guessing import GuessLimiter
from gateway.patientauth.invitations import Invitations, parse
from gateway.patientauth.pkce import digest
from gateway.patientauth.tables import GUESSES, INVITATIONS, SignInTables
from ledger.ids import PatientRef
from tests.gateway.patientauth.conftest import Hospital
from tests.gateway.patientauth.flow import Launch, authorize, code_with_invitation

REF = PatientRef("r" * 43)


def test_guessing_from_one_address_is_refused_with_429(hospital: Hospital) -> None:
    http, conf = hospital.http, hospital.settings.patient_auth
    launch = Launch.new(hospital.settings.public_url)
    real = hospital.invite()
    handle = authorize(http, launch)
    statuses = []
    for n in range(conf.max_failures):
        guess = f"AAAA-AAAA-AAAA-AAAA-AAAA-AA{n:02d}".replace("0", "2").replace("1", "3")
        answer = http.post("/patient/authorize/invitation", data={"request": handle, "code": guess})
        statuses.append(answer.status_code)
    assert statuses == [401] * conf.max_failures
    # Locked out: even the right code is refused now, with 429 and when to retry.
    locked = http.post("/patient/authorize/invitation", data={"request": handle, "code": real})
    assert locked.status_code == 429, locked.text
    assert locked.json()["resourceType"] == "OperationOutcome"
    assert locked.json()["issue"][0]["code"] == "throttled"
    assert 0 < int(locked.headers["retry-after"]) <= conf.lockout_seconds
    # After the lockout the right code works (it was not spent by the refusal).
    hospital.clock.now += conf.lockout_seconds
    code_with_invitation(http, launch, real)


def test_an_invitation_locks_after_wrong_secrets_from_any_address(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'signin.db'}")
    tables = SignInTables(engine)
    invitations = Invitations(tables, GuessLimiter(tables, 3, 600), lifetime=3600, max_failures=3)
    issued = invitations.issue(REF, 1000)
    parts = parse(issued.code)
    assert parts is not None
    handle, secret = parts
    # The database holds the handle and the secret's digest, never the secret.
    with engine.connect() as conn:
        row = conn.execute(sa.select(INVITATIONS)).one()._mapping
    assert row["secret_digest"] == digest(secret)
    assert secret not in "".join(str(v) for v in row.values())

    wrong = handle + ("B" if secret[0] != "B" else "C") + secret[1:]
    for n in range(3):
        with pytest.raises(AuthError):
            invitations.redeem(wrong, f"198.51.100.{n}", 1001)
    with pytest.raises(RateLimitedError):
        invitations.redeem(issued.code, "203.0.113.9", 1002)


def test_codes_are_single_use_and_typed_loosely(tmp_path: Path) -> None:
    tables = SignInTables(sa.create_engine(f"sqlite:///{tmp_path / 'signin.db'}"))
    invitations = Invitations(tables, GuessLimiter(tables, 5, 600), lifetime=60, max_failures=5)
    issued = invitations.issue(REF, 1000)
    typed = issued.code.lower().replace("-", " ")
    assert invitations.redeem(typed, "192.0.2.1", 1001) == REF
    expiring = invitations.issue(REF, 1000).code
    for attempt, now in ((issued.code, 1001), (expiring, 1060)):
        with pytest.raises(AuthError):
            invitations.redeem(attempt, "192.0.2.1", now)


@pytest.fixture(params=["sqlite", "postgresql"])
def sign_in_tables(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SignInTables]:
    url = f"sqlite:///{tmp_path / 'signin.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    tables = SignInTables(sa.create_engine(url))
    yield tables
    tables.engine.dispose()


def test_the_address_count_restarts_after_its_window_and_old_rows_go(
    sign_in_tables: SignInTables,
) -> None:
    limiter = GuessLimiter(sign_in_tables, max_failures=3, window=600)
    for now in (1000, 1001):
        limiter.failed("192.0.2.7", now)
    assert limiter.retry_after("192.0.2.7", 1002) == 0
    limiter.failed("192.0.2.7", 1600)  # the first two are a window old: counting restarts
    limiter.failed("192.0.2.7", 1601)
    assert limiter.retry_after("192.0.2.7", 1602) == 0
    limiter.failed("192.0.2.7", 1602)
    assert limiter.retry_after("192.0.2.7", 1603) == 599  # locked for a window from 1602
    limiter.succeeded("198.51.100.1")  # another address's success changes nothing here
    assert limiter.retry_after("192.0.2.7", 2201) == 1
    assert limiter.retry_after("192.0.2.7", 2202) == 0

    def rows() -> int:
        with sign_in_tables.transaction() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(GUESSES)).scalar_one())

    limiter.failed("203.0.113.5", 2203)  # prunes: 192.0.2.7's lockout ended at 2202
    assert rows() == 1
    limiter.succeeded("203.0.113.5")
    assert rows() == 0
