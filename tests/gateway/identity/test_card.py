"""Member cards: what a member hands to the others is accepted only as a registrable public record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.identity.card import CardError, card_bytes, card_from_json, read_card
from gateway.identity.consortium import MemberSpec, create_consortium


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("card") / "c"
    create_consortium(root, "card test", [MemberSpec("hospital-a", "hospital")])
    genesis = json.loads((root / "consortium" / "genesis.json").read_bytes())
    record: dict[str, Any] = dict(genesis["tx"]["body"]["members"][0])
    record.pop("status")
    return record


def _card(member: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"medgate_member_card": 1, "member": member, "token_jwks": {"keys": []}, **changes}


def test_a_card_round_trips_through_its_file_and_keeps_its_fingerprint(
    member: dict[str, Any], tmp_path: Path
) -> None:
    card = card_from_json(_card(member))
    path = tmp_path / "card.json"
    path.write_bytes(card_bytes(card))
    again = read_card(path)
    assert again.fingerprint == card.fingerprint
    assert again.member_record() == {**member, "status": "active"}
    assert (again.org, again.role) == ("hospital-a", "hospital")


def test_the_fingerprint_pins_every_field(member: dict[str, Any]) -> None:
    base = card_from_json(_card(member)).fingerprint
    moved = card_from_json(_card({**member, "endpoint": "https://elsewhere.example"}))
    assert moved.fingerprint != base


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"medgate_member_card": 2}, "not a member card"),
        ({"extra": 1}, "exactly the fields"),
        ({"token_jwks": {"keys": [{"kty": "EC", "d": "secret"}]}}, "private key material"),
        ({"token_jwks": []}, "not a JWKS"),
    ],
)
def test_malformed_cards_are_refused(
    member: dict[str, Any], change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(CardError, match=problem):
        card_from_json(_card(member, **change))


@pytest.mark.parametrize(
    "field_change",
    [
        {"role": "pharmacy"},
        {"status": "active"},
        {"signing_keys": [{"kid": "x", "pub": "y", "alg": "ES256"}]},
        {
            "encryption_keys": [
                {"kid": "k", "alg": "ECDH-ES+A256KW", "jwk": {"kty": "EC", "d": "s"}}
            ]
        },
    ],
)
def test_a_member_the_ledger_would_refuse_is_refused_as_a_card(
    member: dict[str, Any], field_change: dict[str, Any]
) -> None:
    with pytest.raises(CardError):
        card_from_json(_card({**member, **field_change}))


def test_an_unreadable_file_is_a_card_error(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_text("{not json")
    with pytest.raises(CardError, match=r"card\.json"):
        read_card(path)
