"""File modes: every file medgate creates is private to its user (files 0600, directories 0700).

One mechanism for all of them: ``private_files`` sets the process umask to 0077 around each CLI
command. Databases (SQLite creates its ``-wal`` and ``-shm`` side files with the database's own
mode), the solo ordering log and checkpoints, logs, key files, configs and the folders around them
are created by many hands, some of them libraries (SQLite, uvicorn); a umask reaches every one of
them, where an explicit mode per call site would miss the next new file. Files that already exist
keep their mode: tightening them is the operator's call (see docs/ledger-verify.md, File modes).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_UMASK = 0o077
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


@contextmanager
def private_files() -> Iterator[None]:
    """Run the body with umask 0077, then restore the previous umask (a command run in-process,
    as tests do, leaves the caller's umask as it was)."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def replace_private(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data`` in a file created 0600 (a reader sees the old or
    the new content, never a torn one). Creates missing parent folders 0700."""
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
