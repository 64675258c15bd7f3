"""The consortium policy terms recorded in the genesis (version and digest of a policy document)."""

from __future__ import annotations

from policies.document import default_policy_bytes, load_policy, policy_digest


def policy_terms(raw: bytes) -> dict[str, object]:
    """``{"version", "digest"}`` of the policy document ``raw`` (YAML). Raises PolicyError."""
    doc = load_policy(raw)
    return {"version": doc.version, "digest": policy_digest(raw)}


def default_policy_terms() -> dict[str, object]:
    return policy_terms(default_policy_bytes())
