"""`medgate demo`: a whole consortium on this machine, every member's gateway in its own process,
walked through the flows the users came for. Each step says what it did and what the ledger
recorded, and checks that it behaved as expected; the walk passes only if every step did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from gateway.demo import synthetic
from gateway.demo.checks import Access, compare_log, identifier_hits
from gateway.demo.client import EhrClient, Reply
from gateway.demo.patient_app import PatientApp
from gateway.demo.proofs import check_patient_log
from gateway.demo.scenes import discharge_bundle, payment_consent, revoked
from gateway.identity.consortium import Created, MemberSpec

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-b", "hospital"),
    MemberSpec("insurer-c", "insurer"),
    MemberSpec("agency-d", "agency"),
]
CLAIM_TYPES = {"Claim", "ClaimResponse", "ExplanationOfBenefit", "Coverage"}
ACCESS_TX = "x-medgate-access-tx"


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Demo:
    root: Path
    clients: dict[str, EhrClient]
    failures: list[str] = field(default_factory=list)
    accesses: list[Access] = field(default_factory=list)
    """Every request the custodian records about the patient: what the audit step must show."""
    patient = synthetic.PATIENTS[0]

    def expect(self, what: str, ok: bool, detail: str) -> None:
        say(f"  {'ok ' if ok else '!! '}{what}\n      {detail}")
        if not ok:
            self.failures.append(what)

    async def query(self, requester: str, purpose: str, types: list[str], **extra: Any) -> Reply:
        body = {
            "custodian": "hospital-a",
            "patient": {"system": synthetic.MRN_SYSTEM, "value": self.patient.mrn},
            "purpose": purpose,
            "resource_types": types,
            **extra,
        }
        reply = await self.clients[requester].call("POST", "/outbound/query", body)
        what = f"{requester} {purpose} {','.join(types)}"
        self.accesses.append(Access(what, reply.headers.get(ACCESS_TX)))
        return reply


def _types(reply: Reply) -> set[str]:
    if reply.status != 200 or not isinstance(reply.body, dict):
        return set()
    return {e["resource"]["resourceType"] for e in reply.body.get("entry", [])}


def _recorded(tx: str | None) -> str:
    return "no access.record returned" if tx is None else f"access.record {tx[:16]}"


def _detail(reply: Reply) -> str:
    recorded = _recorded(reply.headers.get(ACCESS_TX))
    if reply.status == 200:
        return f"HTTP 200, released {sorted(_types(reply))}; {recorded}"
    issue = (reply.body or {}).get("issue", [{}])[0] if isinstance(reply.body, dict) else {}
    return f"HTTP {reply.status}: {issue.get('diagnostics', '')}; {recorded}"


async def load_records(demo: Demo) -> None:
    ehr = demo.clients["hospital-a"]
    count = 0
    for p in synthetic.PATIENTS:
        for resource in synthetic.records(p, "insurer-c", claim_count=3):
            reply = await ehr.put(resource)
            if reply.status not in (200, 201):
                raise RuntimeError(f"ingest of {resource['resourceType']} refused: {reply.body}")
            count += 1
    say(
        f"   hospital-a's EHR stored {count} FHIR R4 resources of {len(synthetic.PATIENTS)} "
        "synthetic patients (validated at ingest)"
    )


async def treatment(demo: Demo) -> None:
    reply = await demo.query(
        "hospital-b", "TREAT", ["Condition", "Observation", "MedicationRequest"]
    )
    demo.expect(
        "hospital-b pulls the patient's history for treatment (TREAT)",
        reply.status == 200 and "Condition" in _types(reply),
        _detail(reply),
    )


async def claims_without_consent(demo: Demo) -> None:
    reply = await demo.query("insurer-c", "HPAYMT", ["Claim"])
    demo.expect(
        "insurer-c asks for claims without the patient's consent: denied and recorded",
        reply.status == 403,
        _detail(reply),
    )


async def consent_and_claims(demo: Demo) -> dict[str, Any]:
    consent = payment_consent(
        demo.patient, "insurer-c", "2026-01-01T00:00:00Z", "2027-12-31T23:59:59Z"
    )
    stored = await demo.clients["hospital-a"].put(consent)
    demo.expect(
        "the patient consents at hospital-a: insurer-c may see claims for payment",
        stored.status in (200, 201),
        f"FHIR Consent stored (HTTP {stored.status}); recorded on the ledger as consent.grant",
    )
    wanted = ["Claim", "ExplanationOfBenefit", "Coverage", "Condition", "Observation"]
    reply = await demo.query("insurer-c", "HPAYMT", wanted)
    got = _types(reply)
    demo.expect(
        "insurer-c asks for claims AND clinical data: only the claim types are released",
        reply.status == 200 and bool(got) and got <= CLAIM_TYPES,
        _detail(reply),
    )
    return consent


async def public_health(demo: Demo) -> None:
    reply = await demo.query("agency-d", "PUBHLTH", ["Patient", "Condition", "Observation"])
    p = demo.patient
    identifying = (p.family, p.given, p.mrn, p.phone, p.city, p.birth_date)
    leaked = identifier_hits(reply.body, identifying)
    demo.expect(
        "agency-d queries for public health: released de-identified",
        reply.status == 200 and not leaked and bool(_types(reply)),
        _detail(reply)
        + (f"; LEAKED {leaked}" if leaked else "; no name, MRN, phone, city or birth date"),
    )


async def break_glass(demo: Demo) -> None:
    reply = await demo.query(
        "hospital-b", "ETREAT", ["Condition", "MedicationRequest"], break_glass=True
    )
    obligations = reply.headers.get("x-medgate-obligations", "")
    demo.expect(
        "hospital-b breaks the glass in an emergency (ETREAT): allowed, patient notified",
        reply.status == 200 and "notify-patient" in obligations,
        _detail(reply) + f"; obligations {obligations}",
    )
    reply = await demo.query("insurer-c", "ETREAT", ["Condition"], break_glass=True)
    demo.expect(
        "insurer-c tries to break the glass: refused (hospitals only)",
        reply.status == 403,
        _detail(reply),
    )


async def deliver(demo: Demo) -> None:
    body = {
        "recipients": ["hospital-b"],
        "purpose": "TREAT",
        "patient": {"system": synthetic.MRN_SYSTEM, "value": demo.patient.mrn},
        "bundle": discharge_bundle(demo.patient),
    }
    reply = await demo.clients["hospital-a"].call("POST", "/outbound/deliver", body)
    done = (reply.body or {}).get("delivered", []) if isinstance(reply.body, dict) else []
    tx_of = {d.get("org"): d.get("tx_id") for d in done}
    for org in body["recipients"]:
        demo.accesses.append(Access(f"hospital-a delivers to {org}", tx_of.get(org)))
    demo.expect(
        "hospital-a pushes a discharge summary to hospital-b (sealed, recorded)",
        reply.status == 200 and bool(done) and all(d["status"] == "delivered" for d in done),
        f"HTTP {reply.status}: "
        + "; ".join(f"{d.get('org')} {d.get('status')}, {_recorded(d.get('tx_id'))}" for d in done),
    )


async def revocation(demo: Demo, consent: dict[str, Any]) -> None:
    stored = await demo.clients["hospital-a"].put(revoked(consent))
    reply = await demo.query("insurer-c", "HPAYMT", ["Claim"])
    demo.expect(
        "the patient revokes the consent: insurer-c is denied from the next request on",
        stored.status == 200 and reply.status == 403,
        f"Consent now inactive (consent.revoke); then {_detail(reply)}",
    )


async def patient_signs_in(demo: Demo, app: PatientApp) -> None:
    status = await app.sign_in()
    seen = await app.remember_checkpoint() if status == 200 else None
    demo.expect(
        "the patient signs in at hospital-a's portal; their app remembers the checkpoint it sees",
        seen is not None,
        f"patient token HTTP {status}; "
        + ("no checkpoint" if seen is None else f"block {seen.height}, {seen.tree_size} entries"),
    )


async def patient_audit(demo: Demo, app: PatientApp) -> None:
    log = await app.final_log(demo.accesses)
    proven, lines = check_patient_log(demo.root, log)
    compared = compare_log(demo.accesses, log.get("entries", []))
    for line in [*lines, *compared.problems()]:
        say(f"      {line}")
    demo.expect(
        "the patient reads every access the walkthrough made, each proven against the "
        "consortium's cosigned checkpoint",
        proven and compared.ok,
        f"{compared.made} accesses made, {compared.shown} in the patient's log",
    )
    consistent, said = await app.prove_history(log)
    demo.expect(
        "the patient's app proves that history was not rewritten since the checkpoint it saw",
        consistent,
        said,
    )


Step = Callable[[Demo], Awaitable[Any]]


async def run_flows(root: Path, created: Created) -> tuple[bool, str]:
    urls = {m.org: m.public_url for m in created.members}
    async with aiohttp.ClientSession() as session:
        demo = Demo(root, {org: EhrClient(session, root / org, url) for org, url in urls.items()})
        say("4. hospital-a's EHR loads its records through the FHIR API (SMART backend auth)")
        await load_records(demo)
        mrn = (synthetic.MRN_SYSTEM, demo.patient.mrn)
        app = PatientApp(root, demo.clients["hospital-a"], *mrn)
        await patient_signs_in(demo, app)
        say("5. the flows, each release or denial recorded on the ledger before anything leaves")
        await treatment(demo)
        await claims_without_consent(demo)
        consent = await consent_and_claims(demo)
        await public_health(demo)
        await break_glass(demo)
        await deliver(demo)
        await revocation(demo, consent)
        say("6. the patient's own audit log, with proofs")
        await patient_audit(demo, app)
    if demo.failures:
        say("the walkthrough FAILED at:\n  " + "\n  ".join(demo.failures))
    return not demo.failures, app.token
