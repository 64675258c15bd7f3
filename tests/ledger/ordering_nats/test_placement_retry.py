"""'No suitable peers for placement' (a replica's server looks offline: restarting, or missing
heartbeats under load) is retried within the deadline; other refusals stay final.

Seen once in a full run on a loaded 2-core machine; the cluster state behind it could not be
reproduced on demand (a killed server keeps receiving placements until the meta leader notices,
and the probes then time out during re-election), so the classification is tested directly."""

from __future__ import annotations

import pytest
from nats.js.errors import BadRequestError

from ledger.ordering.nats import _transient


@pytest.mark.parametrize(
    ("err_code", "transient"),
    [(10005, True), (10058, False), (10052, False), (None, False)],
)
def test_only_placement_failures_are_transient(err_code: int | None, transient: bool) -> None:
    exc = BadRequestError(code=400, err_code=err_code, description="refused")
    assert _transient(exc) is transient
