"""Phase 1's fast path accepts exactly what the staged path accepts, and only that: on valid
entries of every fast type and on a seeded corpus of hostile ones, ``decode`` with and without it
gives the same code, the same tx id and the same decoded transaction."""

from __future__ import annotations

import sys

from ledger.state.membership import key_resolver
from ledger.validation import fastpath
from ledger.validation.codes import ValidationCode as C
from tests.ledger.core.hostile import corpus, sign
from tests.ledger.core.mutations import sample_bodies
from tests.ledger.core.world import three_orgs

prepare = sys.modules["ledger.validation.prepare"]  # the package exports a function of that name


def test_fast_and_staged_decode_agree() -> None:
    world, chain = three_orgs()
    samples = sample_bodies(world)
    valid = [sign(world, t, body) for t, body in samples.items()]
    leaves = valid + corpus(world, samples, seed=41, size=3000)
    keys = key_resolver(chain.state)
    fast = [prepare.decode(leaf, keys) for leaf in leaves]
    taken = sum(fastpath.fast_decode(leaf) is not None for leaf in leaves)
    staged = [prepare.decode_staged(leaf, keys) for leaf in leaves]
    for leaf, a, b in zip(leaves, fast, staged, strict=True):
        assert (a.code, a.tx_id) == (b.code, b.tx_id), leaf[:200]
        if a.entry is not None and b.entry is not None:
            assert (a.entry.tx, a.entry.message, a.entry.sig) == (
                b.entry.tx,
                b.entry.message,
                b.entry.sig,
            )
            assert a.entry.endorsements == b.entry.endorsements
        assert len(a.checks) == len(b.checks)
    assert all(d.code is C.VALID for d in fast[: len(valid)])
    assert taken >= 8  # every fast type's valid sample took the fast path
