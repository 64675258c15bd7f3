"""Fuzzed entries of every type, signed by a member key: each field and nested field replaced by
every JSON kind, removed, or joined by an unknown one, and leaves spelled non-canonically.

Each entry goes to two nodes that see it differently: node A validates it as a block of its own,
node B in one block with the valid entry after it, with phase 1 on a thread pool. Both must give it
the same code (never VALIDATOR_FAULT: that would be a validator bug this fuzzer found); an invalid
entry changes no state; and the valid entry after it commits on both.

Bounded for ``make test`` (``MEDGATE_FUZZ_EXAMPLES``, default 1000). The long profile:
``MEDGATE_FUZZ_EXAMPLES=200000 .venv/bin/pytest -p no:cacheprovider tests/ledger/core/test_fuzz_entries.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.state.membership import key_resolver
from ledger.validation.codes import ValidationCode as C
from ledger.validation.prepare import decode, decode_staged
from tests.ledger.core.hostile import SENTINEL, SPELLINGS, sign
from tests.ledger.core.mutations import (
    KINDS,
    REMOVE,
    get,
    near_misses,
    paths,
    replaced,
    sample_bodies,
)
from tests.ledger.core.world import HOSPITAL, Chain, World, access_body, three_orgs


def _signable(value: object) -> bool:
    return not (isinstance(value, int) and abs(value) > 2**53 - 1)


SIGNABLE = [kind for kind in KINDS if _signable(kind)]
"""The kinds a member's encoder can sign (past 2**53 is a spelling: ``hostile.SPELLINGS``)."""
EXAMPLES = int(os.environ.get("MEDGATE_FUZZ_EXAMPLES", "1000"))

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(max_size=12)
    | st.sampled_from(SIGNABLE),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=4,
)
"""Any JSON value a canonical leaf can hold (floats and unsafe integers are spellings)."""


class Nodes:
    """Two nodes' chains fed the same entries, and the world whose keys sign them."""

    def __init__(self, world: World, a: Chain, b: Chain, pool: ThreadPoolExecutor) -> None:
        self.world, self.a, self.b, self.pool = world, a, b, pool

    def __repr__(self) -> str:  # Hypothesis prints the arguments of a failing case
        return f"Nodes(tree_size={len(self.a.leaves)})"

    def follow_up(self) -> bytes:
        return self.world.entry("access.record", HOSPITAL, access_body())


@pytest.fixture(scope="module")
def nodes() -> Iterator[Nodes]:
    world, a = three_orgs()
    b = Chain()
    b.block(a.leaves)
    with ThreadPoolExecutor(2) as pool:
        yield Nodes(world, a, b, pool)


SAMPLE_WORLD, _ = three_orgs()
SAMPLES = sample_bodies(SAMPLE_WORLD)
"""The bodies mutated, built once for the strategy: their keys are the sample world's, so a body
that keeps its shape meets the rules with strangers' keys (NOT_FOUND, ALREADY_EXISTS, VALID...)."""


_REPLACEMENTS = st.sampled_from([*SIGNABLE, REMOVE, SENTINEL]) | JSON


@st.composite
def hostile_entries(draw: st.DrawFn) -> tuple[str, Any, str | None]:
    """An entry type, a body with one to three mutations (and maybe an unknown field), and a
    spelling of the leaf (None: canonical)."""
    entry_type = draw(st.sampled_from(sorted(SAMPLES)))
    body: Any = SAMPLES[entry_type]
    for _ in range(draw(st.integers(1, 3))):
        every = list(paths(body))
        if not every:
            break
        path = every[draw(st.integers(0, len(every) - 1))]
        current = get(body, path)
        misses = [v for v in near_misses(current) if _signable(v)] or [None]
        new = draw(st.sampled_from([*SIGNABLE, REMOVE, SENTINEL]) | st.sampled_from(misses) | JSON)
        body = replaced(body, path, new)
    if draw(st.booleans()):
        body = {**body, draw(st.text(max_size=8)): draw(JSON)}
    return entry_type, body, draw(st.sampled_from([None, *SPELLINGS]))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=hostile_entries())
def test_fuzzed_entries_get_one_code_everywhere_and_nodes_keep_committing(
    nodes: Nodes, case: tuple[str, Any, str | None]
) -> None:
    entry_type, body, spelling = case
    leaf = sign(nodes.world, entry_type, body)
    expected = None
    if spelling is not None:
        rewrite, expected = SPELLINGS[spelling]
        spelled = rewrite(leaf)
        if spelled == leaf:  # the spelling's anchor is not in this leaf
            expected = None
        leaf = spelled
    keys = key_resolver(nodes.a.state)
    staged, fast = decode_staged(leaf, keys), decode(leaf, keys)
    assert (fast.code, fast.tx_id) == (staged.code, staged.tx_id)  # the fast path agrees
    code = nodes.a.submit(leaf)
    changed = {(c.ns, c.key): c.value for c in nodes.a.last_changes}
    if code is not C.VALID:
        assert not changed  # an invalid entry changes no state
    follow = nodes.follow_up()
    assert nodes.a.submit(follow) is C.VALID
    changed.update({(c.ns, c.key): c.value for c in nodes.a.last_changes})
    codes = [v.code for v in nodes.b.block([leaf, follow], mapper=nodes.pool.map)]
    assert codes == [code, C.VALID]
    assert {(c.ns, c.key): c.value for c in nodes.b.last_changes} == changed
    assert code is not C.VALIDATOR_FAULT
    if expected is not None:
        assert code is expected, spelling
