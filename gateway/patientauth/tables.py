"""Sign-in state on the member's own database: invitations, authorization codes, refresh tokens,
pending OIDC logins and wrong attempts per client address. Every replica of the member reads and writes the same rows, and every
"use once" is one conditional UPDATE (``... WHERE used = 0``), so two replicas racing to redeem
the same secret cannot both win. Secrets are stored as SHA-256 digests only (pkce.digest).
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from gateway.patientauth.successor import SEALED_MAX
from gateway.store import schema
from gateway.store.transactions import transaction

METADATA = sa.MetaData()

INVITATIONS = sa.Table(
    "patient_invitations",
    METADATA,
    sa.Column("handle", sa.String(16), primary_key=True),
    sa.Column("secret_digest", sa.String(64), nullable=False),
    sa.Column("patient_ref", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("used", sa.Integer, nullable=False, default=0),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
)
CODES = sa.Table(
    "patient_auth_codes",
    METADATA,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(128), nullable=False),
    sa.Column("redirect_uri", sa.String(2048), nullable=False),
    sa.Column("challenge", sa.String(64), nullable=False),
    sa.Column("patient_ref", sa.String(64), nullable=False),
    sa.Column("scope", sa.String(512), nullable=False),
    sa.Column("family", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("used", sa.Integer, nullable=False, default=0),
)
REFRESH = sa.Table(
    "patient_refresh_tokens",
    METADATA,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("family", sa.String(64), nullable=False, index=True),
    sa.Column("client_id", sa.String(128), nullable=False),
    sa.Column("patient_ref", sa.String(64), nullable=False),
    sa.Column("scope", sa.String(512), nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("used", sa.Integer, nullable=False, default=0),
    # Set when the token is spent: when, and its successor sealed to it (patientauth.successor),
    # so a second use within the grace window gets that successor instead of ending the session.
    sa.Column("used_at", sa.BigInteger, nullable=True),
    sa.Column("successor", sa.String(SEALED_MAX), nullable=True),
)
REVOKED = sa.Table(
    "patient_revoked_families",
    METADATA,
    sa.Column("family", sa.String(64), primary_key=True),
)
OIDC_STATES = sa.Table(
    "patient_oidc_states",
    METADATA,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("nonce", sa.String(128), nullable=False),
    sa.Column("verifier", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("used", sa.Integer, nullable=False, default=0),
)

GUESSES = sa.Table(
    "patient_signin_guesses",
    METADATA,
    sa.Column("address_digest", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("since", sa.BigInteger, nullable=False),
    sa.Column("locked_until", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
)
"""Wrong sign-in attempts per client address (gateway.patientauth.guessing)."""


@dataclass(frozen=True, slots=True)
class Invitation:
    handle: str
    secret_digest: str
    patient_ref: str
    expires_at: int
    used: bool
    failures: int


class SignInTables:
    """The sign-in tables on ``engine`` (created if absent). Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Columns a later release added (refresh token successors) are added in place.
        schema.create(engine, METADATA, "the sign-in store")

    def transaction(self) -> AbstractContextManager[Connection]:
        """One transaction on the sign-in store (UnavailableError, a 503, when it is down)."""
        return transaction(self.engine, "the sign-in store")

    def insert(self, table: sa.Table, **row: Any) -> None:
        with self.transaction() as conn:
            conn.execute(table.insert(), [row])

    def invitation(self, handle: str) -> Invitation | None:
        query = sa.select(INVITATIONS).where(INVITATIONS.c.handle == handle)
        with self.transaction() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        m = row._mapping
        return Invitation(
            str(m["handle"]),
            str(m["secret_digest"]),
            str(m["patient_ref"]),
            int(m["expires_at"]),
            bool(m["used"]),
            int(m["failures"]),
        )

    def count_failure(self, handle: str) -> None:
        update = (
            INVITATIONS.update()
            .where(INVITATIONS.c.handle == handle)
            .values(failures=INVITATIONS.c.failures + 1)
        )
        with self.transaction() as conn:
            conn.execute(update)

    def use_once(self, table: sa.Table, key: str, key_column: str = "digest") -> bool:
        """Mark the row used; True only for the one caller that found it unused."""
        column = table.c[key_column]
        update = table.update().where(column == key, table.c.used == 0).values(used=1)
        with self.transaction() as conn:
            return conn.execute(update).rowcount == 1

    def rotate(self, digest: str, now: int, sealed: str, successor: dict[str, Any]) -> bool:
        """Spend the refresh token ``digest`` and store its ``successor`` row (and the successor
        ``sealed`` to it) in one transaction; True only for the one caller that found it unused.
        A caller that loses therefore always reads a spent row with its successor."""
        spend = (
            REFRESH.update()
            .where(REFRESH.c.digest == digest, REFRESH.c.used == 0)
            .values(used=1, used_at=now, successor=sealed)
        )
        with self.transaction() as conn:
            if conn.execute(spend).rowcount != 1:
                return False
            conn.execute(REFRESH.insert(), [successor])
        return True

    def row(self, table: sa.Table, digest: str) -> dict[str, Any] | None:
        with self.transaction() as conn:
            found = conn.execute(sa.select(table).where(table.c.digest == digest)).first()
        return None if found is None else dict(found._mapping)

    def revoke_family(self, family: str) -> None:
        """End a session: its refresh tokens are refused from now on (idempotent)."""
        # Two replicas revoking the same session at once: one insert wins, both mean the same.
        with contextlib.suppress(IntegrityError), self.transaction() as conn:
            exists = conn.execute(sa.select(REVOKED).where(REVOKED.c.family == family)).first()
            if exists is None:
                conn.execute(REVOKED.insert(), [{"family": family}])

    def revoke_patient(self, patient_ref: str) -> int:
        """End every session of the patient and void their unused invitations (a lost phone,
        a code sent to the wrong address); the number of sessions ended."""
        query = sa.select(REFRESH.c.family).where(REFRESH.c.patient_ref == patient_ref).distinct()
        with self.transaction() as conn:
            families = [str(r.family) for r in conn.execute(query)]
            conn.execute(
                INVITATIONS.update()
                .where(INVITATIONS.c.patient_ref == patient_ref, INVITATIONS.c.used == 0)
                .values(used=1)
            )
        ended = [f for f in families if not self.revoked(f)]
        for family in ended:
            self.revoke_family(family)
        return len(ended)

    def revoked(self, family: str) -> bool:
        with self.transaction() as conn:
            return (
                conn.execute(sa.select(REVOKED).where(REVOKED.c.family == family)).first()
                is not None
            )

    def purge(self, now: int) -> None:
        """Drop expired rows (they can never be redeemed again)."""
        with self.transaction() as conn:
            for table in (INVITATIONS, CODES, REFRESH, OIDC_STATES):
                conn.execute(table.delete().where(table.c.expires_at < now - 86400))
