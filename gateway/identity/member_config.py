"""The few fields of a member's medgate.toml the ceremony needs, readable before the member has
joined a consortium (``gateway.settings`` requires a consortium id; a new member has none yet)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from gateway.fileperms import replace_private
from gateway.settings import KeySettings

_CONSORTIUM_LINE = re.compile(r'^consortium = "[^"\n]*"[^\n]*$', re.MULTILINE)


class MemberConfigError(ValueError):
    """The config cannot be read, or lacks what the ceremony needs."""


@dataclass(frozen=True, slots=True)
class MemberConfig:
    path: Path
    org: str
    consortium: str
    signing_key: Path
    encryption_key: Path
    patient_key: Path
    genesis: Path


def read_member_config(path: Path) -> MemberConfig:
    """``path``'s org, consortium and key paths (resolved against its folder, defaults as
    ``gateway.settings.KeySettings``). Raises MemberConfigError."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MemberConfigError(f"{path}: cannot read config: {exc}") from exc
    org, consortium = data.get("org"), data.get("consortium", "")
    if not isinstance(org, str) or not org or not isinstance(consortium, str):
        raise MemberConfigError(f"{path}: no org (or a consortium that is not a string)")
    keys = data.get("keys") or {}
    if not isinstance(keys, dict):
        raise MemberConfigError(f"{path}: [keys] is not a table")
    base = path.resolve().parent
    defaults = KeySettings()

    def key(name: str) -> Path:
        value = keys.get(name) or getattr(defaults, name)
        return base / Path(str(value))

    return MemberConfig(
        path=path,
        org=org,
        consortium=consortium,
        signing_key=key("signing_key"),
        encryption_key=key("encryption_key"),
        patient_key=key("patient_key"),
        genesis=key("genesis"),
    )


def set_consortium(config: MemberConfig, consortium: str) -> None:
    """Rewrite the config's top-level ``consortium = ...`` line (atomically; 0600)."""
    text = config.path.read_text(encoding="utf-8")
    line = f'consortium = "{consortium}"'
    updated, count = _CONSORTIUM_LINE.subn(line, text, count=1)
    if count == 0:
        head, sep, rest = text.partition("\n[")
        updated = f"{head.rstrip()}\n{line}\n" + (f"\n[{rest}" if sep else "")
    replace_private(config.path, updated.encode("utf-8"))
