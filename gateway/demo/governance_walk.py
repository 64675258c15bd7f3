"""The demo's governance step on the running consortium: one member's operator proposes, the others
review it at their own gateways and endorse through them, each with only its own key, until the
quorum rule in force is met and the entry is committed. Refusals are shown too.

It uses the operator's own tool (gateway.cli.operator_client, what `medgate propose` and `medgate
endorse` use): no process here ever loads a member's signing key.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from gateway.cli.operator_client import Answer, OperatorClient
from gateway.demo.walkthrough import say
from gateway.identity.consortium import Created
from gateway.identity.policy_terms import default_policy_terms
from gateway.settings import Settings

PROPOSER = "hospital-a"
NEW_RULE = {"rule": "K_OF_N", "k": 3}


@dataclass
class GovernanceWalk:
    clients: dict[str, OperatorClient]
    failures: list[str] = field(default_factory=list)

    def expect(self, what: str, ok: bool, detail: str) -> None:
        say(f"  {'ok ' if ok else '!! '}{what}\n      {detail}")
        if not ok:
            self.failures.append(what)

    async def proposals(self, org: str, method: str, path: str, body: Any = None) -> Answer:
        return await self.clients[org].call(method, "/governance/proposals" + path, body)


def _outcome(answer: Answer) -> str:
    return f"HTTP {answer.status}: {answer.problem}"


def _signed(p: dict[str, Any]) -> str:
    q = p["quorum"]
    return f"{len(q['signers'])} signatures, {q['needed']} needed ({', '.join(q['signers'])})"


async def run_governance(created: Created) -> bool:
    """Propose a new quorum rule at hospital-a; endorse it through the other gateways."""
    say("3b. governance on the running network: proposed and endorsed through each member's own")
    say("    gateway (medgate propose / medgate endorse), every member signing with its own key")
    clients = {
        m.org: OperatorClient(
            Settings.load(m.config), "operator", m.config.parent / "clients" / "operator.key"
        )
        for m in created.members
    }
    walk = GovernanceWalk(clients)
    others = [m.org for m in created.members if m.org != PROPOSER]
    terms = default_policy_terms()
    body = {"version": f"{terms['version']}-k3", "digest": terms["digest"], "quorum": NEW_RULE}
    made = await walk.proposals(PROPOSER, "POST", "", {"type": "policy.set", "body": body})
    if made.status != 200:
        walk.expect(f"{PROPOSER} proposes a new quorum rule", False, _outcome(made))
        return False
    p: dict[str, Any] = made.body
    walk.expect(
        f"proposed by {PROPOSER}: policy.set, quorum rule K_OF_N k=3 (same policy document)",
        p["status"] == "open",
        f"proposal {p['id']}, digest {p['digest'][:16]}...; {_signed(p)}",
    )
    seen = [await walk.proposals(org, "GET", f"/{p['id']}") for org in others]
    walk.expect(
        "every other member's gateway lists the same proposal (the exact tx, the same digest)",
        all(s.status == 200 and s.body["digest"] == p["digest"] for s in seen),
        ", ".join(f"{org}: HTTP {s.status}" for org, s in zip(others, seen, strict=True)),
    )
    await _endorsements(walk, p, others)
    return not walk.failures


async def _endorsements(walk: GovernanceWalk, p: dict[str, Any], others: list[str]) -> None:
    last = others[-1]
    wrong = await walk.proposals(last, "POST", f"/{p['id']}/endorsements", {"digest": "0" * 64})
    walk.expect(
        f"{last} endorsing a digest it did not review is refused",
        wrong.status == 409,
        _outcome(wrong),
    )
    status = p["status"]
    for org in others[:-1]:
        if status == "committed":
            break
        answer = await walk.proposals(
            org, "POST", f"/{p['id']}/endorsements", {"digest": p["digest"]}
        )
        if answer.status != 200:
            walk.expect(f"endorsed by {org} through its own gateway", False, _outcome(answer))
            return
        got: dict[str, Any] = answer.body
        status = got["status"]
        if status == "committed":
            detail = f"quorum met: committed at height {got['entry']['height']} ({_signed(got)})"
        else:
            detail = f"{_signed(got)}; status {status}"
        walk.expect(
            f"endorsed by {org} through its own gateway", status in ("open", "committed"), detail
        )
    walk.expect("the quorum rule was met and the entry committed", status == "committed", status)
    await _until_committed(walk, last, p["id"])
    late = await walk.proposals(last, "POST", f"/{p['id']}/endorsements", {"digest": p["digest"]})
    walk.expect(f"{last} endorsing after the commit is refused", late.status == 409, _outcome(late))


async def _until_committed(walk: GovernanceWalk, org: str, proposal_id: str) -> None:
    """Until ``org``'s own node has committed the block (bounded: 100 polls)."""
    for _ in range(100):
        seen = await walk.proposals(org, "GET", f"/{proposal_id}")
        if seen.status == 200 and seen.body["status"] == "committed":
            return
        await asyncio.sleep(0.1)
