"""An assertion is accepted once by the member, whichever replica sees it: a client assertion spent
at replica A's token endpoint, or a peer assertion spent at A, is refused (401) by replica B; of
the same assertion (client or peer) sent to both replicas at once, exactly one request succeeds."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from gateway.auth.peer import make_peer_assertion
from tests.gateway.member import client_assertion, new_key, token_form
from tests.gateway.replicas.conftest import Replicas

PEER = "hospital-b"


def _refused(answer: httpx.Response) -> str:
    assert answer.status_code == 401, answer.text
    return str(answer.json().get("error_description", answer.json()))


def test_a_client_assertion_spent_at_one_replica_is_refused_at_the_other(
    replicas: Replicas,
) -> None:
    endpoint = f"{replicas.member.public_url}/auth/token"
    assertion = client_assertion(replicas.member.client_key, endpoint, replicas.clock.now)
    assert replicas.a.post("/auth/token", data=token_form(assertion)).status_code == 200
    refused = replicas.b.post("/auth/token", data=token_form(assertion))
    assert "replayed" in _refused(refused)
    assert "replayed" in _refused(replicas.a.post("/auth/token", data=token_form(assertion)))
    # A fresh assertion still works at B.
    fresh = client_assertion(replicas.member.client_key, endpoint, replicas.clock.now)
    assert replicas.b.post("/auth/token", data=token_form(fresh)).status_code == 200


def test_a_peer_assertion_spent_at_one_replica_is_refused_at_the_other(
    replicas: Replicas,
) -> None:
    key = new_key()
    replicas.directory.put(PEER, key.public_key())
    assertion = make_peer_assertion(
        key,
        org=PEER,
        audience=replicas.member.public_url,
        purpose="TREAT",
        now=replicas.clock.now,
    )
    bearer = {"Authorization": f"Bearer {assertion}"}
    first = replicas.a.get("/exchange/whoami", headers=bearer)
    assert first.status_code == 200, first.text
    replayed = replicas.b.get("/exchange/whoami", headers=bearer)
    assert replayed.status_code == 401, replayed.text
    assert replayed.json()["resourceType"] == "OperationOutcome"


def test_one_assertion_sent_to_both_replicas_at_once_succeeds_once(replicas: Replicas) -> None:
    endpoint = f"{replicas.member.public_url}/auth/token"
    assertion = client_assertion(replicas.member.client_key, endpoint, replicas.clock.now)
    form = token_form(assertion)
    senders = [replicas.a, replicas.b] * 6
    with ThreadPoolExecutor(len(senders)) as pool:
        answers = list(pool.map(lambda http: http.post("/auth/token", data=form), senders))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [401] * (len(senders) - 1), [a.text for a in answers]


def test_one_peer_assertion_sent_to_both_replicas_at_once_succeeds_once(
    replicas: Replicas,
) -> None:
    key = new_key()
    replicas.directory.put(PEER, key.public_key())
    assertion = make_peer_assertion(
        key, org=PEER, audience=replicas.member.public_url, purpose="TREAT", now=replicas.clock.now
    )
    bearer = {"Authorization": f"Bearer {assertion}"}
    senders = [replicas.a, replicas.b] * 6

    with ThreadPoolExecutor(len(senders)) as pool:
        answers = list(pool.map(lambda http: http.get("/exchange/whoami", headers=bearer), senders))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [401] * (len(senders) - 1), [a.text for a in answers]
