"""The kit's stamp (``kit.json``): which member set it was rendered for, so that `medgate deploy
check` can tell, without rendering, whether the ledger's members have changed since.

    {"medgate_kit": 1, "org": ..., "members_source": "ledger" | "genesis",
     "ledger_height": int | null, "members": [org, ...], "members_digest": hex}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gateway.deploy.members import MemberSet

STAMP = "kit.json"
VERSION = 1


class StampError(ValueError):
    """The folder holds no kit stamp that this version can read (not a kit, or an older one)."""


@dataclass(frozen=True, slots=True)
class Stamp:
    org: str
    source: str
    height: int | None
    members: tuple[str, ...]
    digest: str


def stamp_of(org: str, members: MemberSet) -> Stamp:
    return Stamp(org, members.source.value, members.height, members.orgs, members.digest())


def stamp_bytes(stamp: Stamp) -> bytes:
    value = {
        "medgate_kit": VERSION,
        "org": stamp.org,
        "members_source": stamp.source,
        "ledger_height": stamp.height,
        "members": list(stamp.members),
        "members_digest": stamp.digest,
    }
    return (json.dumps(value, indent=2) + "\n").encode("utf-8")


def read_stamp(kit: Path) -> Stamp:
    """The stamp of the kit in ``kit``. Raises StampError when there is none or it is unreadable."""
    path = kit / STAMP
    try:
        value = json.loads(path.read_bytes())
        if value["medgate_kit"] != VERSION:
            raise StampError(f"{path}: kit stamp version {value['medgate_kit']} is not {VERSION}")
        return Stamp(
            str(value["org"]),
            str(value["members_source"]),
            value["ledger_height"],
            tuple(str(org) for org in value["members"]),
            str(value["members_digest"]),
        )
    except FileNotFoundError as exc:
        raise StampError(
            f"{path} is missing: not a kit, or rendered before kits were stamped"
        ) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StampError(f"{path} cannot be read: {exc}") from exc


def staleness(kit: Stamp, current: MemberSet) -> str | None:
    """None when ``kit`` was rendered for ``current``'s member set; else the one-line reason."""
    if kit.digest == current.digest():
        return None
    added = sorted(set(current.orgs) - set(kit.members))
    removed = sorted(set(kit.members) - set(current.orgs))
    changes = [f"+{org}" for org in added] + [f"-{org}" for org in removed]
    what = " ".join(changes) if changes else "a member's endpoint or CA changed"
    rendered = kit.source if kit.height is None else f"{kit.source} height {kit.height}"
    return (
        f"kit is stale: {current.describe()} differ from the kit's ({rendered}): {what};"
        " re-render and reload NATS"
    )
