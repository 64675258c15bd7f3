"""medgate policies: the pure policy decision point (consortium policy, FHIR Consent, grants).

`decide(request, facts, now) -> Decision`: facts in, a decision out, no I/O and no clock of its own.
"""

from policies.deidentify import deidentify
from policies.document import (
    Basis,
    ConsortiumPolicy,
    Rule,
    default_policy,
    default_policy_bytes,
    load_policy,
    policy_digest,
)
from policies.errors import EncodingError, FactsError, PolicyDocumentError, PolicyError, RecordError
from policies.facts import Facts, build_facts
from policies.model import ConsentTerms, Decision, Effect, Grant, Period, Request
from policies.pdp import decide, input_digest
from policies.replay import ReplayResult, replay, request_from_record
from policies.terms import (
    flattening_losses,
    grant_from_body,
    terms_from_body,
    terms_from_consent,
    terms_to_body,
)

__all__ = [
    "Basis",
    "ConsentTerms",
    "ConsortiumPolicy",
    "Decision",
    "Effect",
    "EncodingError",
    "Facts",
    "FactsError",
    "Grant",
    "Period",
    "PolicyDocumentError",
    "PolicyError",
    "RecordError",
    "ReplayResult",
    "Request",
    "Rule",
    "build_facts",
    "decide",
    "default_policy",
    "default_policy_bytes",
    "deidentify",
    "flattening_losses",
    "grant_from_body",
    "input_digest",
    "load_policy",
    "policy_digest",
    "replay",
    "request_from_record",
    "terms_from_body",
    "terms_from_consent",
    "terms_to_body",
]
