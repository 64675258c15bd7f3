"""Hostile bodies: a valid sample body of every entry type, and its mutations.

Every field and nested field (``paths``) can be replaced by a value of every JSON kind (``KINDS``),
or by a near miss of its own value (a trailing newline, an astral character, another case), or
removed; an unknown field can be added. The differential test walks them all; the fuzzer draws them.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

from ledger.entries import decode_entry
from tests.ledger.core.world import (
    AGENCY,
    HOSPITAL,
    INSURER,
    World,
    access_body,
    consent_body,
    digest,
    grant_body,
)

Path = tuple[str | int, ...]
MAX_SAFE = 2**53 - 1
ASTRAL = "\U0001d11e"


def deep(depth: int) -> Any:
    value: Any = "x"
    for n in range(depth):
        value = [value] if n % 2 else {"a": value}
    return value


KINDS: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1,
    MAX_SAFE,
    MAX_SAFE + 1,
    -MAX_SAFE - 1,
    "",
    "x" * 3000,
    ASTRAL,
    "a\n",
    "permit",
    "hospital",
    "K_OF_N",
    "ES256",
    [],
    [None],
    ["x", "x"],
    {},
    {"kty": "EC"},
    deep(40),
)
"""One value of every JSON kind, and of the edges: the safe-integer bound, empty and long strings,
an astral character, a trailing newline, closed-set words, duplicates, deep nesting. (Floats and
integers past 2**53 cannot be in a canonical leaf: the fuzzer spells them in the leaf bytes.)"""


def near_misses(value: Any) -> list[Any]:
    """Values that look like ``value``: what anchors, bounds and case rules must refuse."""
    if isinstance(value, str):
        return [value + "\n", "\n" + value, value + ASTRAL, value.upper(), value * 3, value[:-1]]
    if isinstance(value, bool):
        return [int(value)]
    if isinstance(value, int):
        return [value + 1, -value - 1, MAX_SAFE, str(value)]
    if isinstance(value, list):
        return [value + value, value[:1] * 9, [*value, None]]
    return []


def sample_bodies(world: World) -> dict[str, dict[str, Any]]:
    """A valid body of every entry type, with every optional field present somewhere."""
    genesis = dict(decode_entry(world.genesis({"rule": "K_OF_N", "k": 2})).body)
    new = world.record(HOSPITAL)
    new["org"] = "hospital-z"
    new["encryption_keys"] = [
        {"kid": "enc-1", "alg": "ECDH-ES+A256KW", "jwk": {"kty": "EC", "crv": "P-256"}}
    ]
    new["ca_chain"] = ["MIIB"]
    access = access_body(
        reason="ok",
        requested_types=["Claim", "Coverage"],
        consent_ref="c1",
        data_period={"start": 1, "end": 2},
        security_labels=["R"],
        break_glass=True,
        break_glass_started=5,
        basis=["c1"],
    )
    return {
        "consortium.genesis": genesis,
        "member.add": {"member": new},
        "member.update": {
            "org": AGENCY,
            "endpoint": "https://agency.test/v2",
            "add_signing_key": new["signing_keys"][0],
            "retire_kid": genesis["members"][2]["signing_keys"][0]["kid"],
            "encryption_keys": new["encryption_keys"],
            "ca_chain": ["MIIC"],
            "compromised": True,
        },
        "member.remove": {"org": AGENCY},
        "policy.set": {"version": "v2", "digest": digest("v2"), "quorum": {"rule": "ALL"}},
        "consent.grant": consent_body(grantee={"org": INSURER, "role": "insurer"}),
        "consent.revoke": {"consent_id": "c1"},
        "grant.issue": grant_body(),
        "grant.revoke": {"grant_id": "g1"},
        "access.record": access,
        "erasure.record": {
            "record_digest": digest("r"),
            "patient_ref": access["patient_ref"],
            "reason": "erased",
        },
    }


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every field and item under ``value``, depth first (``value`` itself excluded)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*prefix, i)
            yield from paths(item, (*prefix, i))


def get(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value


_REMOVE = object()


def replaced(body: dict[str, Any], path: Path, new: Any) -> dict[str, Any]:
    """A deep copy of ``body`` with the value at ``path`` replaced (or removed, for ``REMOVE``)."""
    out = copy.deepcopy(body)
    parent = get(out, path[:-1])
    if new is _REMOVE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(new)
    return out


REMOVE = _REMOVE


def mutations(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every single mutation of ``body``: each path replaced by each kind and each near miss,
    removed, or given an unknown sibling field."""
    for path in list(paths(body)):
        current = get(body, path)
        for new in (*KINDS, *near_misses(current), REMOVE):
            yield replaced(body, path, new)
        parent = get(body, path[:-1])
        if isinstance(parent, dict):
            yield replaced(body, (*path[:-1], "zz_unknown"), 1)


def random_mutation(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One mutation of ``body`` drawn with ``rng`` (a path, then a replacement)."""
    every = list(paths(body))
    if not every:
        return {**body, "zz_unknown": rng.choice(KINDS)}
    path = rng.choice(every)
    return replaced(body, path, rng.choice((*KINDS, *near_misses(get(body, path)), REMOVE)))
