"""`medgate propose` / `proposals` / `endorse` without a gateway: the bodies built from cards and
policy files, and the exit codes of bad input, a missing operator client, an unreachable gateway."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from gateway.cli.governance_cmd import UsageError, proposal_body
from gateway.cli.main import main
from gateway.clock import utcnow
from gateway.identity.member_keys import NewMember, generate_member
from gateway.identity.policy_terms import default_policy_terms
from policies.document import DEFAULT_POLICY_FILE
from tests.gateway.member import pem, write_member

POLICY = Path(__file__).resolve().parents[3] / "policies" / DEFAULT_POLICY_FILE


def _args(kind: str, **given: object) -> argparse.Namespace:
    defaults: dict[str, object] = {
        "kind": kind,
        "card": None,
        "endpoint": None,
        "retire_kid": None,
        "card_keys": "signing,encryption,ca",
        "quorum": None,
        "k": None,
    }
    return argparse.Namespace(**(defaults | given))


def test_policy_set_from_the_yaml_file() -> None:
    terms = default_policy_terms()
    body = proposal_body(_args("policy.set", policy=POLICY))
    assert body == {"version": terms["version"], "digest": terms["digest"]}
    body = proposal_body(_args("policy.set", policy=POLICY, quorum="K_OF_N", k=2))
    assert body["quorum"] == {"rule": "K_OF_N", "k": 2}
    with pytest.raises(UsageError, match="--k goes with"):
        proposal_body(_args("policy.set", policy=POLICY, quorum="ALL", k=2))
    with pytest.raises(UsageError, match="--k goes with"):
        proposal_body(_args("policy.set", policy=POLICY, quorum="K_OF_N"))


def test_policy_set_refuses_a_file_that_is_not_a_policy(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("version: 1\nroles: [\n", encoding="utf-8")
    with pytest.raises(UsageError):
        proposal_body(_args("policy.set", policy=bad))


def test_member_bodies_from_a_card(tmp_path: Path) -> None:
    card = generate_member(
        tmp_path / "insurer-d", NewMember("insurer-d", "insurer", "https://d.example"), utcnow()
    )
    path = tmp_path / "insurer-d" / "card.json"
    added = proposal_body(_args("member.add", card=path))
    assert added == {"member": card.member_record()}
    update = proposal_body(
        _args(
            "member.update",
            org="insurer-d",
            card=path,
            card_keys="signing",
            endpoint="https://n.example",
        )
    )
    assert update == {
        "org": "insurer-d",
        "endpoint": "https://n.example",
        "add_signing_key": card.member["signing_keys"][-1],
    }
    full = proposal_body(_args("member.update", org="insurer-d", card=path, retire_kid="k" * 43))
    assert set(full) == {"org", "add_signing_key", "encryption_keys", "ca_chain", "retire_kid"}
    with pytest.raises(UsageError, match="not hospital-a's"):
        proposal_body(_args("member.update", org="hospital-a", card=path))
    with pytest.raises(UsageError, match="needs --endpoint"):
        proposal_body(_args("member.update", org="insurer-d"))
    with pytest.raises(UsageError, match="choose among"):
        proposal_body(_args("member.update", org="insurer-d", card=path, card_keys="tls"))
    assert proposal_body(_args("member.remove", org="insurer-d")) == {"org": "insurer-d"}


def test_without_an_operator_client_the_tool_says_how_to_register_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    member = write_member(tmp_path)  # only the EHR client, system/*.write: not enough
    assert main(["proposals", "--config", str(member.config)]) == 2
    assert "register an operator client" in capsys.readouterr().err


def test_an_unreachable_gateway_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        member = write_member(
            tmp_path,
            public_url=f"http://127.0.0.1:{port}",
            scopes=("system/Ledger.read", "system/Ledger.write"),
        )
        key = member.config.parent / "clients" / "ehr.key"
        key.write_bytes(pem(member.client_key))
        code = main(["endorse", "0123456789abcdef", "--config", str(member.config), "--json"])
    assert code == 3
    assert "cannot reach the gateway" in capsys.readouterr().err
