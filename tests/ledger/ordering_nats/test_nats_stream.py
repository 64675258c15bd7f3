"""Pure parts of the nats backend: stream naming, stream config, gap and resume checks."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType

from ledger.errors import OrderingGapError, OrderingMismatchError
from ledger.ordering.nats_stream import (
    MAX_MSG_SIZE,
    check_next,
    check_resume,
    stream_config,
    stream_names,
)

STREAM_NAME = re.compile(r"[A-Za-z0-9_-]+")


def test_a_hex_consortium_id_is_used_as_is() -> None:
    names = stream_names("ab12" * 16)
    assert names.stream == "MEDGATE_" + "ab12" * 16
    assert names.subject == "medgate." + "ab12" * 16 + ".ledger"


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_names_are_legal_and_distinct_ids_never_share_a_stream(a: str, b: str) -> None:
    first, second = stream_names(a), stream_names(b)
    assert STREAM_NAME.fullmatch(first.stream)
    assert first.subject.count(".") == 2
    assert not set("*> \t\r\n") & set(first.subject)
    assert (first == second) == (a == b)


def test_a_sanitised_id_cannot_collide_with_a_literal_one() -> None:
    odd = stream_names("a.b")
    assert odd.stream.startswith("MEDGATEX_a_b_")
    literal = stream_names(odd.stream.removeprefix("MEDGATEX_"))
    assert literal.stream != odd.stream
    assert literal.subject != odd.subject


def test_an_empty_id_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        stream_names("")


def test_stream_config_is_append_only_and_replicated() -> None:
    config = stream_config(stream_names("c1"), replicas=3)
    assert config.storage == StorageType.FILE
    assert config.num_replicas == 3
    assert config.retention == RetentionPolicy.LIMITS
    assert config.discard == DiscardPolicy.NEW
    assert config.deny_delete is True
    assert config.deny_purge is True
    assert config.allow_rollup_hdrs is False  # a rollup would purge the stream
    assert (config.max_msgs, config.max_bytes, config.max_age) == (-1, -1, 0)
    assert config.max_msg_size == MAX_MSG_SIZE
    assert MAX_MSG_SIZE > 64 * 1024
    assert config.duplicate_window > 0


@pytest.mark.parametrize("replicas", [0, 6])
def test_replicas_outside_jetstream_limits_are_refused(replicas: int) -> None:
    with pytest.raises(ValueError, match="replicas"):
        stream_config(stream_names("c1"), replicas)


@settings(max_examples=200)
@given(st.lists(st.integers(min_value=1, max_value=30), max_size=30))
def test_check_next_accepts_exactly_the_gapless_sequences(positions: list[int]) -> None:
    """A stream read from 0 is valid up to its first position that is not index + 1."""
    first_bad = next((i for i, got in enumerate(positions) if got != i + 1), len(positions))
    for index, got in enumerate(positions[:first_bad]):
        check_next(index + 1, got)
    if first_bad < len(positions):
        with pytest.raises(OrderingGapError) as caught:
            check_next(first_bad + 1, positions[first_bad])
        assert (caught.value.expected, caught.value.got) == (first_bad + 1, positions[first_bad])


def test_resume_from_a_committed_position_inside_the_stream() -> None:
    check_resume(0, first_seq=0, last_seq=0)
    check_resume(0, first_seq=1, last_seq=10)
    check_resume(10, first_seq=1, last_seq=10)


def test_resume_beyond_the_stream_is_a_mismatch() -> None:
    with pytest.raises(OrderingMismatchError) as caught:
        check_resume(11, first_seq=1, last_seq=10)
    assert caught.value.position == 11


def test_resume_after_purged_entries_is_a_gap() -> None:
    with pytest.raises(OrderingGapError) as caught:
        check_resume(3, first_seq=6, last_seq=10)
    assert (caught.value.expected, caught.value.got) == (4, 6)


def test_resume_from_a_negative_position_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        check_resume(-1, first_seq=0, last_seq=0)
