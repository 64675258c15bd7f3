"""Read a rendered systemd unit's [Service] section into the command the harness runs, so the
units `medgate deploy render` writes are what starts every process (not a copy of their argv)."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.multihost.member import Command

SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""systemd's default PATH for services: a unit gets no other environment than it declares."""


def service_command(unit: Path) -> Command:
    """ExecStart (split like a shell would: the kit's paths have no quotes or variables),
    Environment= lines, User= and WorkingDirectory= of ``unit``. Raises ValueError when the unit
    has no single ExecStart or uses a prefix (``-``, ``@``, ``+``...) the harness does not honour."""
    section = ""
    values: dict[str, list[str]] = {}
    for raw in unit.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section == "Service" and "=" in line:
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    starts = values.get("ExecStart", [])
    if len(starts) != 1:
        raise ValueError(f"{unit}: want exactly one ExecStart, found {len(starts)}")
    if starts[0][:1] in "-@+!:":
        raise ValueError(f"{unit}: ExecStart prefix {starts[0][0]!r} is not supported")
    env = {"PATH": SEARCH_PATH}
    for line in values.get("Environment", []):
        for item in shlex.split(line):
            key, _, value = item.partition("=")
            env[key] = value
    user = values.get("User", [None])[-1]
    cwd = values.get("WorkingDirectory", [None])[-1]
    return Command(shlex.split(starts[0]), env, user, None if cwd is None else Path(cwd))
