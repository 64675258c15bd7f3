"""The prefix range used by scans: exactly the keys that start with the prefix fall inside it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.storage.rows import prefix_upper_bound

# Storable text only: no surrogates (not UTF-8) and no NUL (PostgreSQL text refuses it).
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6)
AWKWARD = st.text(
    st.sampled_from(["a", "%", "_", "\\", "\ud7ff", "\ue000", "\U0010ffff"]), max_size=4
)


@settings(max_examples=300)
@given(prefix=TEXT | AWKWARD, key=TEXT | AWKWARD)
def test_a_key_is_in_range_iff_it_starts_with_the_prefix(prefix: str, key: str) -> None:
    upper = prefix_upper_bound(prefix)
    in_range = key >= prefix and (upper is None or key < upper)
    assert in_range == key.startswith(prefix)
    if upper is not None:
        upper.encode("utf-8")  # storable: never a lone surrogate


def test_bounds_of_edge_prefixes() -> None:
    assert prefix_upper_bound("") is None
    assert prefix_upper_bound("\U0010ffff\U0010ffff") is None
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("x\ud7ff") == "x\ue000"
    assert prefix_upper_bound("a%") == "a&"
