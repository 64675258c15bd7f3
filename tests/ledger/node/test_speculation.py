"""Speculation: entries decoded as read, signatures checked in chunks on a real thread pool, results
collected in order; it must answer exactly what ``prepare`` answers, entry by entry."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from ledger.ids import Kid
from ledger.node.speculation import CHUNK, Speculation
from ledger.signing import kid_of
from ledger.state.membership import KeyResolver, key_resolver
from ledger.validation import prepare
from tests.ledger.core.world import AGENCY, HOSPITAL, INSURER, access_body, three_orgs


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as executor:
        yield executor


def _stream() -> tuple[list[bytes], KeyResolver, Kid]:
    """Valid entries, forged ones (another member's key under the hospital's kid), entries whose
    key the resolver does not know, and a malformed leaf: more than two chunks' worth."""
    world, chain = three_orgs()
    hospital_kid = kid_of(world.keys[HOSPITAL].public_key())
    leaves: list[bytes] = []
    for i in range(2 * CHUNK + 20):
        if i % 17 == 5:
            leaves.append(
                world.entry(
                    "access.record",
                    HOSPITAL,
                    access_body(),
                    key=world.keys[INSURER],
                    kid=hospital_kid,
                )
            )
        elif i % 23 == 7:
            leaves.append(world.entry("access.record", AGENCY, access_body(custodian=AGENCY)))
        elif i == 40:
            leaves.append(b'{"not": "a leaf"}')
        else:
            leaves.append(world.entry("access.record", HOSPITAL, access_body()))
    agency_kid = kid_of(world.keys[AGENCY].public_key())
    known = key_resolver(chain.state)

    def keys(kid: Kid) -> object:
        return None if kid == agency_kid else known(kid)

    return leaves, keys, agency_kid  # type: ignore[return-value]


def test_speculated_results_equal_prepare_in_order(pool: ThreadPoolExecutor) -> None:
    leaves, keys, _ = _stream()
    speculation = Speculation(pool, keys)
    for i, raw in enumerate(leaves):
        speculation.start(raw)
        if i % 50 == 49:
            speculation.flush()  # as the reader does when it waits; the rest goes out when full
    got = list(speculation.map(lambda raw: prepare(raw, keys), leaves))
    assert got == [prepare(raw, keys) for raw in leaves]
    assert [p.sig_ok for p in got].count(False) == sum(1 for i in range(len(leaves)) if i % 17 == 5)
    assert any(
        p.sig_ok is None and p.entry is not None for p in got
    )  # unknown key: left to phase 2
    assert any(p.entry is None for p in got)  # the malformed leaf


def test_an_unflushed_chunk_is_sent_when_its_first_result_is_needed(
    pool: ThreadPoolExecutor,
) -> None:
    leaves, keys, _ = _stream()
    few = leaves[:3]
    speculation = Speculation(pool, keys)
    for raw in few:
        speculation.start(raw)
    assert list(speculation.map(lambda raw: prepare(raw, keys), few)) == [
        prepare(raw, keys) for raw in few
    ]


def test_entries_not_started_are_prepared_by_the_mapper(pool: ThreadPoolExecutor) -> None:
    leaves, keys, _ = _stream()
    speculation = Speculation(pool, keys)
    speculation.start(leaves[0])
    calls: list[bytes] = []

    def fallback(raw: bytes) -> object:
        calls.append(raw)
        return prepare(raw, keys)

    got = list(speculation.map(fallback, leaves[:4]))  # type: ignore[arg-type]
    assert calls == leaves[1:4]
    assert got == [prepare(raw, keys) for raw in leaves[:4]]
