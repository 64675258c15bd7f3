"""`medgate demo`: a whole consortium on this machine, every member's gateway in its own process,
walked through the flows the users came for. Each step says what it did and what the ledger
recorded, and checks that it behaved as expected; the walk passes only if every step did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from gateway.demo import synthetic
from gateway.demo.client import EhrClient, Reply
from gateway.demo.ledger_walk import run_ledger_walk
from gateway.demo.processes import GatewayProcess, start_gateway, wait_ready
from gateway.demo.proofs import check_patient_log
from gateway.demo.scenes import discharge_bundle, payment_consent, revoked
from gateway.identity.consortium import Created, MemberSpec, create_consortium

MEMBERS = [
    MemberSpec("hospital-a", "hospital"),
    MemberSpec("hospital-b", "hospital"),
    MemberSpec("insurer-c", "insurer"),
    MemberSpec("agency-d", "agency"),
]
CLAIM_TYPES = {"Claim", "ClaimResponse", "ExplanationOfBenefit", "Coverage"}


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Demo:
    root: Path
    clients: dict[str, EhrClient]
    failures: list[str] = field(default_factory=list)
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
        return await self.clients[requester].call("POST", "/outbound/query", body)


def _types(reply: Reply) -> set[str]:
    if reply.status != 200 or not isinstance(reply.body, dict):
        return set()
    return {e["resource"]["resourceType"] for e in reply.body.get("entry", [])}


def _detail(reply: Reply) -> str:
    tx = reply.headers.get("x-medgate-access-tx", "-")[:16]
    if reply.status == 200:
        return f"HTTP 200, released {sorted(_types(reply))}, access.record {tx}"
    issue = (reply.body or {}).get("issue", [{}])[0] if isinstance(reply.body, dict) else {}
    return f"HTTP {reply.status}: {issue.get('diagnostics', '')}"


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
    text = str(reply.body)
    leaked = [
        v
        for v in (demo.patient.family, demo.patient.given, demo.patient.mrn, demo.patient.phone)
        if v in text
    ]
    demo.expect(
        "agency-d queries for public health: released de-identified",
        reply.status == 200 and not leaked and bool(_types(reply)),
        _detail(reply) + (f"; LEAKED {leaked}" if leaked else "; no name, MRN or phone"),
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
    demo.expect(
        "hospital-a pushes a discharge summary to hospital-b (sealed, recorded)",
        reply.status == 200 and bool(done) and all(d["status"] == "delivered" for d in done),
        f"HTTP {reply.status}: {done}",
    )


async def revocation(demo: Demo, consent: dict[str, Any]) -> None:
    stored = await demo.clients["hospital-a"].put(revoked(consent))
    reply = await demo.query("insurer-c", "HPAYMT", ["Claim"])
    demo.expect(
        "the patient revokes the consent: insurer-c is denied from the next request on",
        stored.status == 200 and reply.status == 403,
        f"Consent now inactive (consent.revoke); then {_detail(reply)}",
    )


async def patient_audit(demo: Demo) -> str:
    ehr = demo.clients["hospital-a"]
    ident = {"identifier": {"system": synthetic.MRN_SYSTEM, "value": demo.patient.mrn}}
    issued = await ehr.call("POST", "/patient/token", ident)
    if issued.status != 200:
        demo.expect("hospital-a issues the patient a token", False, f"HTTP {issued.status}")
        return ""
    token = str(issued.body["access_token"])
    log = await _final_log(ehr, token)
    ok, lines = check_patient_log(demo.root, log)
    for line in lines:
        say(f"      {line}")
    demo.expect(
        "the patient reads every access to their records, each proven against the "
        "consortium's cosigned checkpoint",
        ok,
        f"{len(log.get('entries', []))} entries",
    )
    return token


async def _final_log(ehr: EhrClient, token: str, timeout: float = 20.0) -> dict[str, Any]:
    """The patient's log once every entry is covered by a final checkpoint (bounded wait)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        reply = await ehr.call("GET", "/patient/audit", bearer=token)
        body: dict[str, Any] = reply.body if isinstance(reply.body, dict) else {}
        pending = [e for e in body.get("entries", []) if e.get("proof") is None]
        if (reply.status == 200 and not pending) or loop.time() > deadline:
            return body
        await asyncio.sleep(0.25)


Step = Callable[[Demo], Awaitable[Any]]


async def run_flows(root: Path, created: Created) -> tuple[bool, str]:
    urls = {m.org: m.public_url for m in created.members}
    async with aiohttp.ClientSession() as session:
        demo = Demo(root, {org: EhrClient(session, root / org, url) for org, url in urls.items()})
        say("4. hospital-a's EHR loads its records through the FHIR API (SMART backend auth)")
        await load_records(demo)
        say("5. the flows, each release or denial recorded on the ledger before anything leaves")
        await treatment(demo)
        await claims_without_consent(demo)
        consent = await consent_and_claims(demo)
        await public_health(demo)
        await break_glass(demo)
        await deliver(demo)
        await revocation(demo, consent)
        say("6. the patient's own audit log, with proofs")
        token = await patient_audit(demo)
    if demo.failures:
        say("the walkthrough FAILED at:\n  " + "\n  ".join(demo.failures))
    return not demo.failures, token


async def run_demo(root: Path, *, serve: bool, base_port: int = 8401) -> bool:
    say(f"1. medgate init: {len(MEMBERS)} members in {root}")
    created = create_consortium(root, "medgate demo consortium", MEMBERS, base_port=base_port)
    say(f"   consortium {created.consortium_id[:16]}...; genesis signed by every founder")
    say("2. governance and consent on the ledger, every member validating every entry")
    ledger_ok = await run_ledger_walk(root, MEMBERS)
    say("3. every member's gateway starts in its own process (SQLite + embedded solo ordering)")
    gateways = [start_gateway(m.org, m.public_url, m.config) for m in created.members]
    try:
        await wait_ready(gateways)
        for gw in gateways:
            say(f"   {gw.org:<11} {gw.url}  (pid {gw.process.pid})")
        ok, token = await run_flows(root, created)
        ok = ok and ledger_ok
        say("7. " + ("every step behaved as expected" if ok else "some steps FAILED (see above)"))
        if serve:
            await _serve(gateways, token)
        return ok
    finally:
        for gw in gateways:
            gw.stop()


async def _serve(gateways: list[GatewayProcess], token: str) -> None:
    portal = gateways[0].url + "/portal"
    say(f"\nThe consortium keeps running. The patient portal: {portal}")
    say(f"patient token (valid a few minutes): {token}")
    say("Press Ctrl-C to stop.")
    while all(gw.process.poll() is None for gw in gateways):
        await asyncio.sleep(1)
