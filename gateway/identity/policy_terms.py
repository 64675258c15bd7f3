"""The consortium policy terms recorded in the genesis (version and digest of the default policy)."""

from __future__ import annotations

from policies.document import default_policy_bytes, load_policy, policy_digest


def default_policy_terms() -> dict[str, object]:
    raw = default_policy_bytes()
    doc = load_policy(raw)
    return {"version": doc.version, "digest": policy_digest(raw)}
