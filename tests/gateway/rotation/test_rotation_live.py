"""Rotation without downtime, on real gateways over real sockets (hospital-a and hospital-d under
``open_gateway``, agency-c endorsing offline), every time read from one manual clock.

Signing key: the member's node switches to its new key when it commits the ``member.update``;
peers keep getting the old key for half the overlap; an assertion under the old key is accepted
until the retiring entry's ts plus the overlap and refused from then on; entries signed with the
old key and ordered after the update are committed KEY_RETIRED. Encryption key: an envelope
sealed to the old key before the rotation still opens after it; new envelopes are sealed to the
new key as soon as the update is committed. Token key: see test_token_rotation.
"""

from __future__ import annotations

import json
import secrets
import stat
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from cryptography import x509

from gateway.auth import jwt
from gateway.auth.peer import make_peer_assertion
from gateway.cli.main import main
from gateway.crypto.envelope import Recipient, seal
from gateway.crypto.keys import public_jwk, read_jwk
from gateway.identity.files import load_private_key
from gateway.identity.rotation import rotate_token
from ledger.ids import Kid
from ledger.signing import kid_of
from ledger.state import member
from ledger.state.membership import signing_key
from ledger.validation.codes import ValidationCode
from tests.gateway.audit.harness import access_body
from tests.gateway.rotation.harness import MRN_SYSTEM, OVERLAP_S, POLLS, Net, Traffic, rotation_net

VALID, KEY_RETIRED = int(ValidationCode.VALID), int(ValidationCode.KEY_RETIRED)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    with rotation_net(tmp_path_factory.mktemp("rotation")) as running:
        yield running


def patient(mrn: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": MRN_SYSTEM, "value": mrn}],
        "name": [{"family": "Adeyemi", "given": ["Tolu"]}],
        "birthDate": "1975-09-12",
    }


def observation(pid: str, value: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2026-02-03T10:00:00Z",
        "valueQuantity": {"value": value, "unit": "/min"},
    }


@pytest.fixture(scope="module")
def mrn(net: Net) -> str:
    mrn = f"MRN-{secrets.token_hex(4)}"
    pid = net.create("hospital-a", patient(mrn))
    net.create("hospital-a", observation(pid, 72))
    return mrn


def rotate(net: Net, org: str, which: str) -> dict[str, Any]:
    """`medgate member rotate --<which>` for ``org``: the member.update body it wrote."""
    out = net.root / f"{org}-{which}-{secrets.token_hex(3)}.json"
    assert (
        main(
            ["member", "rotate", "--config", str(net.config(org)), f"--{which}", "--out", str(out)]
        )
        == 0
    )
    body: dict[str, Any] = json.loads(out.read_text())
    return body


def finish(net: Net, org: str) -> None:
    assert main(["member", "rotate", "--config", str(net.config(org)), "--finish"]) == 0


def wait_until(probe: Any, what: str) -> None:
    for _ in range(POLLS):
        if probe():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_signing_rotation_keeps_serving_and_old_assertions_end_with_the_overlap(
    net: Net, mrn: str
) -> None:
    keys = net.root / "hospital-d" / "keys"
    old = load_private_key(keys / "signing.key")
    old_kid = kid_of(old.public_key())
    auth = net.auth("hospital-d")
    assert net.outbound_query(mrn, auth).status_code == 200  # before

    body = rotate(net, "hospital-d", "signing")
    new_kid = Kid(body["add_signing_key"]["kid"])
    assert body == {
        "org": "hospital-d",
        "add_signing_key": body["add_signing_key"],
        "retire_kid": old_kid,
    }
    assert stat.S_IMODE((keys / "signing.next.key").stat().st_mode) == 0o600
    assert net.node("hospital-d").kid == old_kid  # nothing changes before the ledger says so

    # Proposed an hour ago, endorsed since: the entry's ts is old, its block's is not.
    proposed = net.clock.ms - 3_600_000
    update = net.signed(
        "hospital-d", "member.update", body, key=old, endorsers=("agency-c",), ts=proposed
    )
    traffic = Traffic(lambda: net.outbound_query(mrn, auth).status_code)
    with traffic.flowing():  # during: queries flow while both nodes commit the update
        net.order(update)
        assert net.code("hospital-a", update[1]) == VALID
        assert net.code("hospital-d", update[1]) == VALID
        wait_until(lambda: net.node("hospital-d").kid == new_kid, "hospital-d switched keys")
        seen = len(traffic.statuses)
        wait_until(lambda: len(traffic.statuses) >= seen + 5, "queries after the switch")
    assert len(traffic.statuses) >= 5
    assert set(traffic.statuses) == {200}, traffic.statuses

    # The retirement is in every member's state with the retiring entry's ts and position; the
    # overlap runs from the ts of the block that committed it, the same for every member.
    retired_ts = net.block_ts_of("hospital-a", update[1])
    assert retired_ts == net.block_ts_of("hospital-d", update[1])
    assert retired_ts >= net.clock.ms - 1000  # the latest traffic's time, not the proposal's
    for org in ("hospital-a", "hospital-d"):
        row = net.read(org, lambda store: signing_key(store, old_kid))
        assert (row.status, row.retired_ts) == ("retired", proposed)

    # Ledger entries switched at the commit; peers still get the old key for half the overlap.
    assert net.node("hospital-d").signing_key is not old
    assert net.node("hospital-d").peer_signer[1] == old_kid
    net.clock.advance(OVERLAP_S // 2)
    assert net.node("hospital-d").peer_signer[1] == new_kid
    assert net.outbound_query(mrn, net.auth("hospital-d")).status_code == 200  # after

    # A replica still holding the old key: accepted until retired_ts + overlap, refused then.
    new = load_private_key(keys / "signing.next.key")
    net.clock.ms = retired_ts + OVERLAP_S * 1000 - 1000
    assert net.peer_query(mrn, old).status_code == 200
    net.clock.ms = retired_ts + OVERLAP_S * 1000
    refused = net.peer_query(mrn, old)
    assert refused.status_code == 401, refused.text
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert net.peer_query(mrn, new).status_code == 200

    finish(net, "hospital-d")
    assert kid_of(load_private_key(keys / "signing.key").public_key()) == new_kid
    kept = keys / "retired" / f"signing-{old_kid}.key"
    assert kid_of(load_private_key(kept).public_key()) == old_kid
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert not (keys / "signing.next.key").exists()
    cert = x509.load_pem_x509_certificate((keys / "signing.pem").read_bytes())
    assert kid_of(cert.public_key()) == new_kid  # type: ignore[arg-type]
    assert net.outbound_query(mrn, net.auth("hospital-d")).status_code == 200


def test_entries_in_flight_with_the_retired_key_are_key_retired_and_the_node_signs_anew(
    net: Net, mrn: str
) -> None:
    """hospital-a (the custodian) rotates: an entry under its old key ordered before the update
    is valid, one ordered after it is KEY_RETIRED; its own access.records and checkpoints carry
    the new key from the commit on, and checkpoints still become final."""
    old = net.node("hospital-a").signing_key
    old_kid = kid_of(old.public_key())
    body = rotate(net, "hospital-a", "signing")
    assert body["retire_kid"] == old_kid
    new_kid = body["add_signing_key"]["kid"]
    record = access_body("hospital-d", "hospital", "hospital-a", "A" * 43)
    before = net.signed("hospital-a", "access.record", record, key=old)
    update = net.signed("hospital-a", "member.update", body, key=old, endorsers=("agency-c",))
    in_flight = net.signed("hospital-a", "access.record", record, key=old)
    net.order(before, update, in_flight)
    assert [net.code("hospital-d", tx) for _, tx in (before, update, in_flight)] == [
        VALID,
        VALID,
        KEY_RETIRED,
    ]
    wait_until(lambda: net.node("hospital-a").kid == new_kid, "hospital-a switched keys")

    # Its next release is recorded under the new key, and valid.
    net.clock.advance(OVERLAP_S // 2)
    answer = net.outbound_query(mrn, net.auth("hospital-d"))
    assert answer.status_code == 200, answer.text
    access_tx = answer.headers["X-Medgate-Access-Tx"]
    assert net.code("hospital-d", access_tx) == VALID
    assert net.entry_kid("hospital-d", access_tx) == new_kid

    # Checkpoints cosigned by both running members (MAJORITY of three) still become final:
    # hospital-a signs them with its new key.
    head = net.read("hospital-a", lambda s: s.head())
    assert head is not None
    size = head.tree_size
    auth = net.auth("hospital-d")

    def final_covers() -> bool:
        got = httpx.get(f"{net.urls['hospital-d']}/ledger/checkpoint", headers=auth, timeout=30)
        return got.status_code == 200 and got.json()["cp"]["tree_size"] >= size

    wait_until(final_covers, "a final checkpoint after the rotation")
    finish(net, "hospital-a")


def test_envelopes_sealed_to_the_old_encryption_key_open_after_rotation(net: Net, mrn: str) -> None:
    keys = net.root / "hospital-d" / "keys"
    old_jwk = read_jwk(keys / "encryption.jwk.json")
    sender_key, sender_kid = net.node("hospital-a").peer_signer
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": patient(f"MRN-{secrets.token_hex(4)}")}],
    }
    sealed_before = seal(
        orjson.dumps(bundle),
        "hospital-a",
        sender_kid,
        sender_key,
        [Recipient("hospital-d", public_jwk(old_jwk))],
    )

    body = rotate(net, "hospital-d", "encryption")
    new_kid = body["encryption_keys"][0]["jwk"]["kid"]
    assert new_kid != public_jwk(old_jwk)["kid"]
    assert stat.S_IMODE((keys / "encryption.next.jwk.json").stat().st_mode) == 0o600
    auth = net.auth("hospital-d")
    update = net.signed(
        "hospital-d",
        "member.update",
        body,
        key=net.current_key("hospital-d"),
        endorsers=("agency-c",),
    )
    traffic = Traffic(lambda: net.outbound_query(mrn, auth).status_code)
    with traffic.flowing():
        net.order(update)
        assert net.code("hospital-a", update[1]) == VALID
        assert net.code("hospital-d", update[1]) == VALID
        seen = len(traffic.statuses)
        wait_until(lambda: len(traffic.statuses) >= seen + 5, "queries after the update")
    assert len(traffic.statuses) >= 5
    assert set(traffic.statuses) == {200}, traffic.statuses

    # New envelopes are sealed to the new key: hospital-a's registry names only it, and
    # hospital-d opens them with its next key (held before --finish).
    registered = net.read("hospital-a", lambda s: member(s, "hospital-d"))
    assert [k.kid for k in registered.encryption_keys] == [new_kid]
    assert net.outbound_query(mrn, net.auth("hospital-d")).status_code == 200

    finish(net, "hospital-d")
    assert (keys / "retired" / f"encryption-{public_jwk(old_jwk)['kid']}.jwk.json").is_file()
    # The envelope sealed to the old key before the rotation still opens at hospital-d.
    delivered = deliver(net, sealed_before)
    assert delivered.status_code == 200, delivered.text
    assert len(delivered.json()["stored"]) == 1


def deliver(net: Net, envelope: bytes) -> httpx.Response:
    key, _ = net.node("hospital-a").peer_signer
    token = make_peer_assertion(
        key,
        org="hospital-a",
        audience=net.settings["hospital-d"].public_url,
        purpose="TREAT",
        now=net.clock.s,
    )
    return httpx.post(
        f"{net.urls['hospital-d']}/exchange/deliver",
        content=envelope,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/jose+json"},
        timeout=30,
    )


def test_token_rotation_accepts_old_tokens_within_the_overlap_only(net: Net) -> None:
    url = net.urls["hospital-a"]
    old_token = net.auth("hospital-a")
    old_kid = jwt.unverified_kid(old_token["Authorization"].split()[1])
    assert httpx.get(f"{url}/fhir/Patient", headers=old_token, timeout=30).status_code == 200
    rotated_at = net.clock.s
    # The CLI stamps the retirement with the wall clock; here the gateways' clock is the test's.
    jwks = rotate_token(net.settings["hospital-a"], rotated_at)
    new_kid = jwks["keys"][0]["kid"]
    keys = net.root / "hospital-a" / "keys"
    assert (keys / "retired" / f"token-{old_kid}.key").is_file()
    new_token = net.auth("hospital-a")
    assert jwt.unverified_kid(new_token["Authorization"].split()[1]) == new_kid != old_kid
    net.clock.ms = (rotated_at + OVERLAP_S - 1) * 1000
    assert httpx.get(f"{url}/fhir/Patient", headers=old_token, timeout=30).status_code == 200
    assert httpx.get(f"{url}/fhir/Patient", headers=new_token, timeout=30).status_code == 200
    net.clock.ms = (rotated_at + OVERLAP_S) * 1000
    refused = httpx.get(f"{url}/fhir/Patient", headers=old_token, timeout=30)
    assert refused.status_code == 401, refused.text
    assert httpx.get(f"{url}/fhir/Patient", headers=new_token, timeout=30).status_code == 200
