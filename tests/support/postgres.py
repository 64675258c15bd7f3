"""A real PostgreSQL server for tests: the configured one, the local one, or a throwaway one.

Order of preference (server_dsn): MEDGATE_TEST_PG_DSN; else 127.0.0.1:5432 with trust auth (user
postgres, database test); else a throwaway cluster (initdb + pg_ctl in a temp dir, on a free port),
stopped and deleted at the end. MEDGATE_TEST_PG_FORCE_THROWAWAY=1 skips the first two. If no server
can be had, this raises: PostgreSQL tests fail, they never skip.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import URL

from tests.support.ports import free_ports

LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/test"
DSN_ENV = "MEDGATE_TEST_PG_DSN"
FORCE_ENV = "MEDGATE_TEST_PG_FORCE_THROWAWAY"
START_TIMEOUT_S = 60


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server could be found or started."""


@contextmanager
def server_dsn() -> Iterator[str]:
    """Yield a libpq URL of a running server, superuser or CREATEDB rights assumed."""
    configured = os.environ.get(DSN_ENV)
    if configured:
        yield configured
        return
    if os.environ.get(FORCE_ENV) != "1" and _answers(LOCAL_DSN):
        yield LOCAL_DSN
        return
    with throwaway_server() as dsn:
        yield dsn


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """Yield a ``postgresql+psycopg://`` URL of a new empty database on ``server``; drop it after.

    Requires: ``server`` is a libpq URL/DSN of a role that may CREATE DATABASE.
    """
    name = f"medgate_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server, autocommit=True) as admin:
        _create_database(admin, name)
    try:
        yield _sqlalchemy_url(server, name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            # FORCE: a test that leaked a connection must not leave the database behind.
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            admin.execute(drop)


def _create_database(admin: psycopg.Connection[Any], name: str) -> None:
    # A linguistic (ICU en-US) default collation, as production databases often have, so tests
    # catch code that assumes byte order without asking for it (COLLATE "C"). Servers built
    # without ICU get the server default.
    ident = sql.Identifier(name)
    icu = "CREATE DATABASE {} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
    try:
        admin.execute(sql.SQL(icu).format(ident))
    except psycopg.Error:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))


@contextmanager
def throwaway_server() -> Iterator[str]:
    """Start a private cluster with the system's initdb/pg_ctl; yield its URL; then remove it."""
    bindir = _pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="medgate-pg-"))
    data, sockets, log = root / "data", root / "sock", root / "server.log"
    sockets.mkdir()
    user = _run_as()
    if user is not None:
        # initdb and postgres refuse to run as root: hand the directory to the postgres account.
        _chown_tree(root, user)
    port = _free_port()
    try:
        _start(bindir, user, data, log, f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            _run(user, [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start(bindir: Path, user: pwd.struct_passwd | None, data: Path, log: Path, opts: str) -> None:
    # fsync=off: a throwaway cluster need not survive a crash, and tests run faster without it.
    start = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", f"{opts} -c fsync=off"]
    try:
        _run(user, [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"])
        _run(user, [*start, "-w", "-t", str(START_TIMEOUT_S), "start"])
    except subprocess.CalledProcessError as exc:
        detail = log.read_text(errors="replace") if log.exists() else ""
        raise PostgresUnavailableError(f"throwaway server failed: {exc.stderr}\n{detail}") from exc


def _answers(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def _pg_bindir() -> Path:
    on_path = shutil.which("pg_ctl")
    if on_path is not None:
        return Path(on_path).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3])
    )
    if not candidates:
        raise PostgresUnavailableError("no pg_ctl on PATH nor under /usr/lib/postgresql/*/bin")
    return candidates[-1].parent


def _run_as() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresUnavailableError("running as root and no 'postgres' account") from exc


def _chown_tree(root: Path, user: pwd.struct_passwd) -> None:
    for path in [root, *root.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)


def _run(user: pwd.struct_passwd | None, argv: Sequence[str]) -> None:
    command = list(argv) if user is None else ["runuser", "-u", user.pw_name, "--", *argv]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=START_TIMEOUT_S)


def _free_port() -> int:
    return free_ports(1)[0]


def _sqlalchemy_url(server: str, database: str) -> str:
    params = conninfo_to_dict(server)
    url = URL.create(
        "postgresql+psycopg",
        username=_opt(params.get("user")),
        password=_opt(params.get("password")),
        host=_opt(params.get("host")),
        port=int(str(params["port"])) if params.get("port") else None,
        database=database,
    )
    return url.render_as_string(hide_password=False)


def _opt(value: object) -> str | None:
    return None if value is None else str(value)
