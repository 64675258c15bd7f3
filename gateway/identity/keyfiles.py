"""Where a member keeps its keys across rotations: the current file, the next one, the retired ones.

For a key file ``keys/signing.key`` (the same for ``token.key`` and ``encryption.jwk.json``):

- ``keys/signing.key``: the key in force (the configured path);
- ``keys/signing.next.key``: a new key written by ``medgate member rotate``, not yet in force (the
  gateway holds it from the moment it sees it, and signs with it once the ledger makes it active);
- ``keys/retired/signing-<kid>.key``: an old key, kept to open envelopes sealed to it and to verify
  what it signed during the overlap; beside it ``signing-<kid>.retired.json`` says when it retired.

Every file is created 0600 (folders 0700) and never overwritten except the key in force, which is
replaced atomically (a reader sees the old or the new key, never a torn file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from gateway.fileperms import PRIVATE_DIR_MODE, replace_private
from gateway.identity.files import write_private

RETIRED_DIR = "retired"
MARKER_SUFFIX = ".retired.json"


def _split(path: Path) -> tuple[str, str]:
    """``signing.key`` -> (``signing``, ``.key``); ``encryption.jwk.json`` -> (``encryption``,
    ``.jwk.json``): the base name and everything from its first dot."""
    base, dot, rest = path.name.partition(".")
    return base, dot + rest


def next_path(path: Path) -> Path:
    """The next key's file beside ``path``: ``signing.key`` -> ``signing.next.key``."""
    base, rest = _split(path)
    return path.with_name(f"{base}.next{rest}")


def retired_folder(path: Path) -> Path:
    return path.parent / RETIRED_DIR


def retired_path(path: Path, kid: str) -> Path:
    """The retired copy of the key ``kid`` of ``path``'s kind: ``retired/signing-<kid>.key``."""
    if not kid or "/" in kid or kid.startswith("."):
        raise ValueError("a kid names a file: base64url characters only")
    base, rest = _split(path)
    return retired_folder(path) / f"{base}-{kid}{rest}"


def marker_path(path: Path, kid: str) -> Path:
    base, _ = _split(path)
    return retired_folder(path) / f"{base}-{kid}{MARKER_SUFFIX}"


def retired_files(path: Path) -> Iterator[Path]:
    """The retired key files of ``path``'s kind, in name order (none when the folder is absent)."""
    folder = retired_folder(path)
    if not folder.is_dir():
        return
    base, rest = _split(path)
    for found in sorted(folder.glob(f"{base}-*{rest}")):
        if not found.name.endswith(MARKER_SUFFIX):
            yield found


def candidates(path: Path) -> list[Path]:
    """Every file that may hold a key of ``path``'s kind: in force, next, retired."""
    found = [p for p in (path, next_path(path)) if p.is_file()]
    return found + list(retired_files(path))


def retire(path: Path, kid: str, data: bytes, retired_at: int) -> Path:
    """Keep ``data`` (the key ``kid``) as a retired key, with a marker saying it retired at
    ``retired_at`` (epoch seconds). Refuses to overwrite an existing retired copy."""
    target = retired_path(path, kid)
    target.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    write_private(target, data)
    marker = json.dumps({"kid": kid, "retired_at": retired_at}, sort_keys=True).encode()
    replace_private(marker_path(path, kid), marker)
    return target


def retired_at(path: Path, kid: str) -> int | None:
    """When the key ``kid`` of ``path``'s kind retired (epoch seconds), or None when it has no
    readable marker (then it is not accepted at all: fail closed)."""
    try:
        value = json.loads(marker_path(path, kid).read_bytes())["retired_at"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def promote(path: Path) -> None:
    """Make the next key the key in force (atomic replace of ``path``), and drop the next file.
    Requires: the key in force was kept with ``retire`` first."""
    pending = next_path(path)
    replace_private(path, pending.read_bytes())
    os.unlink(pending)
