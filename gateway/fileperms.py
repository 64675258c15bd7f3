"""File modes: every file medgate creates is private to its user (files 0600, directories 0700).

One mechanism for all of them: ``private_files`` sets the process umask to 0077 around each CLI
command. Databases (SQLite creates its ``-wal`` and ``-shm`` side files with the database's own
mode), the solo ordering log and checkpoints, logs, key files, configs and the folders around them
are created by many hands, some of them libraries (SQLite, uvicorn); a umask reaches every one of
them, where an explicit mode per call site would miss the next new file. Files that already exist
keep their mode: tightening them is the operator's call (see docs/ledger-verify.md, File modes);
``medgate serve`` names them in a warning at start (``loose_paths``).
"""

from __future__ import annotations

import os
import stat
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


def loose_paths(root: Path, limit: int = 20) -> list[Path]:
    """Up to ``limit`` paths under ``root`` (itself included) that give group or others any
    access, in walk order. Symbolic links are not followed."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        for path in [base, *(base / name for name in files)]:
            try:
                mode = stat.S_IMODE(path.lstat().st_mode)
            except FileNotFoundError:  # removed while we walked (a SQLite -shm at close)
                continue
            if mode & 0o077 and not path.is_symlink():
                found.append(path)
                if len(found) >= limit:
                    return found
        dirs.sort()
    return found
