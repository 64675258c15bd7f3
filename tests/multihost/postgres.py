"""One member host's own PostgreSQL: initdb into a private folder, ``pg_ctl`` inside the host's
namespace, listening on the host's 198.18 address (and a private socket folder) only.

initdb and postgres refuse to run as root, so when the tests run as root the cluster belongs to the
``postgres`` account (as tests/support/postgres.py does for its throwaway server). The data folder
lives under its own temporary folder (the test's tmp_path is 0700 root: the account could not
enter it); ``remove`` deletes it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from pathlib import Path

from tests.multihost.hosts import Host, HostError
from tests.support.postgres import _pg_bindir

PORT = 5432
START_TIMEOUT_S = 60


class HostPostgres:
    """``start`` (again after a host loss: the cluster recovers from its WAL), ``create(db)``,
    ``url(db)``, ``stop``, ``remove``."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.bindir = _pg_bindir()
        self.root = Path(tempfile.mkdtemp(prefix=f"medgate-mh-pg-{host.name}-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.log = self.root / "server.log"
        self.user = _account()
        self.sockets.mkdir()
        if self.user is not None:
            for path in (self.root, self.sockets):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        self._pg(["initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"])
        # Trust the host's own address only: the gateway on this host connects over TCP; nothing
        # else on the test network may reach this database.
        with (self.data / "pg_hba.conf").open("a", encoding="ascii") as hba:
            hba.write(f"host all postgres {host.address}/32 trust\n")

    @property
    def username(self) -> str:
        return "postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@{self.host.address}:{PORT}/{database}"

    def start(self) -> None:
        options = f"-c listen_addresses={self.host.address} -p {PORT} -k {self.sockets}"
        try:
            pg_ctl = ["pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options]
            self._pg([*pg_ctl, "-w", "-t", str(START_TIMEOUT_S), "start"])
        except HostError as exc:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise HostError(f"{self.host.name}'s PostgreSQL did not start: {exc}\n{tail}") from exc

    def create(self, database: str) -> None:
        self._pg(["createdb", "-h", str(self.sockets), "-p", str(PORT), "-U", "postgres", database])

    def stop(self) -> None:
        self._pg(["pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _pg(self, argv: list[str]) -> None:
        binary = str(self.bindir / argv[0])
        user = None if self.user is None else self.user.pw_name
        self.host.run([binary, *argv[1:]], user=user, timeout=START_TIMEOUT_S + 10)


def _account() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise HostError("running as root and no 'postgres' account for initdb") from exc
