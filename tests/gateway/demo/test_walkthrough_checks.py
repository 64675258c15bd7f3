"""The demo's own leak check compares case-insensitively: an EHR id embedding an MRN in lower
case (``cond-pat-mrn-0003``) is a leak of ``MRN-0003``."""

from __future__ import annotations

from gateway.demo.walkthrough import leaks


def test_leaks_are_found_whatever_the_case() -> None:
    text = '{"id": "cond-pat-mrn-0003", "name": "QUARRINGTON"}'
    assert leaks(text, ["MRN-0003", "Quarrington", "+44 20 7946 0991"]) == [
        "MRN-0003",
        "Quarrington",
    ]
    assert leaks('{"id": "c-3f2a"}', ["MRN-0003"]) == []
