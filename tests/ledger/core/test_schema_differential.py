"""The typed body declarations against the hand-written schemas they replaced, on a large corpus
of mutated bodies: they accept exactly what the old ones accepted, and give the same code, but for
one intended difference (below)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from ledger.errors import EntryError
from ledger.validation.codes import ValidationCode as C
from ledger.validation.registry import REGISTRY
from tests.ledger.core import reference_bodies
from tests.ledger.core.mutations import mutations, random_mutation, sample_bodies
from tests.ledger.core.world import three_orgs

INTENDED = {(C.UNSUPPORTED_ALG, C.BAD_BODY)}
"""(old, new): a body with an unregistered signing-key alg *and* a fault of shape (a wrong type,
a missing or unknown field, a bad format) that the old schema met only after the alg. The new one
judges a body's whole shape first, so any fault of shape is BAD_BODY; both codes refuse."""


def _code(check: Callable[[Mapping[str, Any]], object], body: Mapping[str, Any]) -> C:
    try:
        check(body)
    except EntryError as exc:
        return C(exc.code)
    return C.VALID


def test_new_schemas_agree_with_the_old_on_every_mutation_and_pairs_of_them() -> None:
    world, _ = three_orgs()
    rng = random.Random(14)
    seen: Counter[tuple[C, C]] = Counter()
    total = 0
    for entry_type, body in sample_bodies(world).items():
        new, old = REGISTRY[entry_type].body.judge, reference_bodies.SCHEMAS[entry_type]
        assert _code(new, body) == _code(old, body) == C.VALID, entry_type
        singles = list(mutations(body))
        doubles = [random_mutation(m, rng) for m in singles for _ in range(5)]
        for mutated in singles + doubles:
            total += 1
            pair = (_code(old, mutated), _code(new, mutated))
            if pair[0] != pair[1]:
                seen[pair] += 1
                assert pair in INTENDED, (entry_type, pair, mutated)
    assert total > 20000
    assert set(seen) <= INTENDED
