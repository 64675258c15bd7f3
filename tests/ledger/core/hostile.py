"""Hostile leaves: a mutated body signed by a member key, optionally spelled non-canonically.

A spelling rewrites the signed leaf's bytes the way a hostile member's own encoder could: a
duplicate key, whitespace, another key order, an escape, a float or an integer past 2**53, nesting
past the depth bound, a leaf past the size bound. Every one of these must be MALFORMED (TOO_LARGE for
the size), whatever the body says.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from ledger.entries import MAX_LEAF_BYTES
from ledger.errors import EncodingError
from ledger.validation.codes import ValidationCode as C
from tests.ledger.core.mutations import paths, random_mutation, replaced
from tests.ledger.core.world import AGENCY, HOSPITAL, INSURER, World

SENTINEL = "@@sentinel@@"
"""A body value that a spelling replaces in the leaf bytes (by a float, a huge integer...)."""

ENDORSED = {"consortium.genesis", "member.add", "member.update", "member.remove", "policy.set"}


def _dup_key(raw: bytes) -> bytes:
    return raw.replace(b'"tx":{"alg":"ES256",', b'"tx":{"alg":"ES256","alg":"ES256",', 1)


def _whitespace(raw: bytes) -> bytes:
    return raw.replace(b'"body":', b'"body": ', 1)


def _key_order(raw: bytes) -> bytes:
    head, tx = raw.split(b',"tx":', 1)
    return b'{"tx":' + tx[:-1] + b"," + head[1:] + b"}"


def _escape(raw: bytes) -> bytes:
    return raw.replace(b'"ES256"', b'"\\u0045S256"', 1)


def _trailing(raw: bytes) -> bytes:
    return raw + b"\n"


def _sentinel(replacement: bytes) -> Callable[[bytes], bytes]:
    def spell(raw: bytes) -> bytes:
        return raw.replace(b'"%s"' % SENTINEL.encode(), replacement, 1)

    return spell


SPELLINGS: Mapping[str, tuple[Callable[[bytes], bytes], C]] = {
    "duplicate key": (_dup_key, C.MALFORMED),
    "whitespace": (_whitespace, C.MALFORMED),
    "key order": (_key_order, C.MALFORMED),
    "escape": (_escape, C.MALFORMED),
    "trailing newline": (_trailing, C.MALFORMED),
    "float": (_sentinel(b"1.5"), C.MALFORMED),
    "integral float": (_sentinel(b"1.0"), C.MALFORMED),
    "exponent": (_sentinel(b"1e3"), C.MALFORMED),
    "2**53": (_sentinel(b"9007199254740992"), C.MALFORMED),
    "-2**53": (_sentinel(b"-9007199254740992"), C.MALFORMED),
    "2**64": (_sentinel(b"18446744073709551616"), C.MALFORMED),
    "nesting 300": (_sentinel(b"[" * 300 + b"]" * 300), C.MALFORMED),
    "nesting 2000": (_sentinel(b"[" * 2000 + b"]" * 2000), C.MALFORMED),
    "huge string": (_sentinel(b'"' + b"x" * MAX_LEAF_BYTES + b'"'), C.TOO_LARGE),
}
"""Name -> (rewrite of the leaf bytes, the code every node must give). Sentinel spellings need a
body holding ``SENTINEL`` (the fuzzer puts it where a body value was)."""


def sign(world: World, entry_type: str, body: Mapping[str, Any]) -> bytes:
    """``body`` as an entry by hospital-a, endorsed by the others when its type is endorsed."""
    endorsers = [INSURER, AGENCY] if entry_type in ENDORSED else []
    return world.entry(entry_type, HOSPITAL, body, endorsers=endorsers)


def corpus(
    world: World, samples: Mapping[str, dict[str, Any]], seed: int, size: int
) -> list[bytes]:
    """``size`` hostile leaves drawn with ``seed``: a mutated body of a random type, signed, and one
    leaf in three spelled non-canonically (the sentinel put at a random field first)."""
    rng = random.Random(seed)
    names = sorted(SPELLINGS)
    out: list[bytes] = []
    while len(out) < size:
        entry_type = rng.choice(sorted(samples))
        body = random_mutation(samples[entry_type], rng)
        spelling = rng.choice(names) if rng.random() < 1 / 3 else None
        if spelling is not None and list(paths(body)):
            body = replaced(body, rng.choice(list(paths(body))), SENTINEL)
        try:
            leaf = sign(world, entry_type, body)
        except EncodingError:  # an integer past 2**53: no encoder signs it (a spelling does)
            continue
        out.append(leaf if spelling is None else SPELLINGS[spelling][0](leaf))
    return out
