"""One transaction on a member's database, with its outage translated to a typed error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from gateway.errors import UnavailableError


@contextmanager
def transaction(engine: Engine, what: str) -> Iterator[Connection]:
    """A connection in a transaction committed on exit; the database being down, unreachable or
    locked out raises UnavailableError naming ``what`` (a 503), never the driver's message."""
    try:
        with engine.begin() as conn:
            yield conn
    except OperationalError as exc:
        raise UnavailableError(f"{what} is unavailable") from exc
