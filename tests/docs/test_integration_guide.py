"""docs/integration-guide.md is executed: every worked example runs, in order, against a real
demo consortium (four gateway processes), so the guide and the code cannot drift apart."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.docs.examples import Runner, examples, run_guide
from tests.support.demo import ROOT, serving_demo

GUIDE = ROOT / "docs" / "integration-guide.md"


@pytest.mark.e2e
def test_every_example_of_the_guide_runs_against_a_demo(tmp_path: Path) -> None:
    with serving_demo(tmp_path / "demo") as demo, httpx.Client(timeout=30) as http:
        ran = run_guide(GUIDE, Runner(demo, http))
    kinds = {e.kind for e in examples(GUIDE.read_text(encoding="utf-8"))}
    assert kinds == {"http", "http-response", "python"}
    assert ran >= 30
