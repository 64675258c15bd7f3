"""Benchmark of `policies.decide`: one core, one patient with 100 consents and 10 grants.

Prints one JSON object: decisions_per_s (wall clock), decisions_per_cpu_s (this thread's CPU time),
p50_us, p99_us, and the mix measured. Bar: decisions_per_s >= 20,000.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import sys
import time
from typing import Any

from policies import Effect, Request, build_facts, decide, default_policy

PATIENT = "pt-bench"
HOSPITALS = [f"h-{i:02}" for i in range(10)]
INSURERS = [f"i-{i:02}" for i in range(10)]
AGENCIES = [f"a-{i:02}" for i in range(5)]
ROLE = {
    **dict.fromkeys(HOSPITALS, "hospital"),
    **dict.fromkeys(INSURERS, "insurer"),
    **dict.fromkeys(AGENCIES, "agency"),
}
CUSTODIAN = HOSPITALS[0]
NOW = 1_780_272_000_000
YEAR = 31_536_000_000
DECISIONS = 40_000
WARMUP = 2_000
RT = "http://hl7.org/fhir/resource-types"


def _actor(org: str) -> dict[str, Any]:
    return {
        "role": {"coding": [{"code": "PRCP"}]},
        "reference": {"reference": f"Organization/{org}"},
    }


def fhir_consent(i: int, rng: random.Random) -> dict[str, Any]:
    org = rng.choice(HOSPITALS[1:] + INSURERS)
    purpose = "HPAYMT" if ROLE[org] == "insurer" else rng.choice(["TREAT", "PATRQT"])
    nested = [
        {"type": "deny", "securityLabel": [{"code": "PSY"}]},
        {
            "type": "deny",
            "class": [{"system": RT, "code": rng.choice(["Coverage", "Observation"])}],
        },
        {"type": "deny", "dataPeriod": {"start": "2015-01-01", "end": "2015-12-31"}},
    ]
    return {
        "resourceType": "Consent",
        "id": f"c-{i}",
        "status": "active" if i % 9 else "inactive",
        "patient": {"reference": PATIENT},
        "provision": {
            "type": "deny" if i % 11 == 0 else "permit",
            "period": {"start": "2025-01-01", "end": "2027-12-31" if i % 7 else "2025-12-31"},
            "actor": [_actor(org)],
            "purpose": [{"code": purpose}],
            "provision": rng.sample(nested, rng.randint(0, 2)),
        },
    }


def terms(i: int, rng: random.Random) -> dict[str, Any]:
    org = rng.choice(INSURERS + HOSPITALS[1:])
    return {
        "consent_id": f"t-{i}",
        "patient_ref": PATIENT,
        "grantee": {"org": org},
        "purposes": ["HPAYMT"] if ROLE[org] == "insurer" else ["TREAT"],
        "resource_types": rng.sample(
            ["Claim", "Coverage", "ExplanationOfBenefit", "Observation"], 2
        ),
        "period": {"start": NOW - YEAR, "end": NOW + (YEAR if i % 5 else -1)},
        "status": "active",
        "consent_digest": None,
    }


def grant(i: int) -> dict[str, Any]:
    return {
        "grant_id": f"g-{i}",
        "grantor": CUSTODIAN,
        "grantee": AGENCIES[i % 5] if i < 5 else HOSPITALS[i],
        "resource_types": ["Condition", "Observation", "Encounter"],
        "purposes": ["HRESCH", "ETREAT"],
        "expires": NOW + (YEAR if i % 3 else -1),
        "revoked": i == 9,
    }


def requests(rng: random.Random) -> list[Request]:
    wanted = {
        "hospital": ["Observation", "Condition", "Encounter", "MedicationRequest", "Claim"],
        "insurer": ["Claim", "Coverage", "ExplanationOfBenefit", "Patient", "Observation"],
        "agency": ["Observation", "Condition", "Encounter", "Patient", "Procedure"],
    }
    purposes = {
        "hospital": ["TREAT", "ETREAT", "PATRQT"],
        "insurer": ["HPAYMT", "TREAT"],
        "agency": ["PUBHLTH", "HRESCH"],
    }
    out = []
    for _ in range(500):
        org = rng.choice(list(ROLE))
        role = ROLE[org]
        out.append(
            Request(
                org,
                role,
                CUSTODIAN,
                PATIENT,
                tuple(rng.sample(wanted[role], rng.randint(1, 4))),
                rng.choice(purposes[role]),
                break_glass=rng.random() < 0.05,
            )
        )
    return out


def main() -> None:
    rng = random.Random(7)
    facts = build_facts(
        default_policy(),
        consents=[fhir_consent(i, rng) for i in range(70)],
        terms=[terms(i, rng) for i in range(30)],
        grants=[grant(i) for i in range(10)],
        members=list(ROLE),
    )
    assert not facts.errors, facts.errors
    batch = requests(rng)
    # The facts snapshot lives as long as the ledger height it was taken at: keep it (and the
    # policy) out of the cyclic GC's generations, as a gateway holding a snapshot would.
    gc.collect()
    gc.freeze()
    for i in range(WARMUP):
        decide(batch[i % len(batch)], facts, NOW)
    timings = []
    permits = 0
    clock = time.perf_counter_ns
    cpu_started = time.thread_time_ns()
    started = clock()
    for i in range(DECISIONS):
        before = clock()
        decision = decide(batch[i % len(batch)], facts, NOW + i)
        timings.append(clock() - before)
        permits += decision.effect is Effect.PERMIT
    elapsed = clock() - started
    cpu = time.thread_time_ns() - cpu_started
    timings.sort()
    result = {
        "decisions_per_s": round(DECISIONS / (elapsed / 1e9)),
        # CPU time of this thread: the one-core cost, unaffected by other load on a shared machine.
        "decisions_per_cpu_s": round(DECISIONS / (cpu / 1e9)),
        "p50_us": round(statistics.median(timings) / 1000, 1),
        "p99_us": round(timings[int(len(timings) * 0.99)] / 1000, 1),
        "decisions": DECISIONS,
        "consents": len(facts.consents) + len(facts.terms),
        "grants": len(facts.grants),
        "permit_share": round(permits / DECISIONS, 3),
        "python": sys.version.split()[0],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
