"""Which files and folders under a tree are readable or writable by anyone but their owner."""

from __future__ import annotations

import stat
from pathlib import Path


def loose_paths(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) whose mode gives group or others any access:
    files must be 0600 (or stricter), folders 0700. Entries as ``"<mode> <path>"``."""
    loose = []
    for path in [root, *sorted(root.rglob("*"))]:
        try:
            mode = stat.S_IMODE(path.lstat().st_mode)
        except FileNotFoundError:  # a side file removed while we walked (SQLite's -shm at close)
            continue
        if mode & 0o077:
            loose.append(f"{mode:04o} {path.relative_to(root.parent)}")
    return loose
