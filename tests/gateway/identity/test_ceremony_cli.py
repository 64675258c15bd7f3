"""The genesis ceremony from the command line: keygen in separate folders, genesis from cards, each
founder signs with its own key, seal, join; and every way an operator can get it wrong."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from gateway.identity.pseudonym import load_patient_key
from gateway.settings import Settings
from ledger.blockbuild import genesis_block
from ledger.entries import decode_entry, encode_entry
from ledger.genesis import consortium_id
from ledger.state.membership import key_resolver
from ledger.statekv import MemoryState
from policies.document import policy_digest
from tests.gateway.identity.ceremony import (
    FOUNDERS,
    config,
    files_under,
    genesis,
    keygen,
    ok,
    private_material,
    refused,
    sign,
    spellings,
)

POLICY = Path(__file__).parents[3] / "policies" / "consortium-policy.yaml"
ORGS = [org for org, _ in FOUNDERS]


def _members(root: Path) -> None:
    for number, (org, role) in enumerate(FOUNDERS):
        extra = ("--pq",) if org == "insurer-b" else ()
        keygen(root, org, role, 9100 + number, *extra)


def _signed(root: Path, *orgs: str) -> Path:
    """The package after ``orgs`` signed, in that order (p0 is the unsigned one)."""
    package = root / "p0.json"
    genesis(root, ORGS, package, "--quorum", "2-of-3", "--policy", str(POLICY))
    for number, org in enumerate(orgs, start=1):
        out = root / f"p{number}.json"
        sign(root, org, package, out)
        package = out
    return package


def _edit(path: Path, change: Any) -> Path:
    value = json.loads(path.read_bytes())
    change(value)
    edited = path.with_name(f"edited-{path.name}")
    edited.write_text(json.dumps(value))
    return edited


def test_three_founders_in_separate_folders_make_one_consortium(tmp_path: Path) -> None:
    _members(tmp_path)
    # Any signing order: the submitter (first card) need not sign first.
    package = _signed(tmp_path, "insurer-b", "hospital-a", "agency-c")
    out = tmp_path / "genesis.json"
    sealed = ok(["consortium", "seal", str(package), "--out", str(out)])
    leaf = out.read_bytes()
    cid = consortium_id(leaf)
    assert cid in sealed.out
    genesis_block(leaf, key_resolver(MemoryState()))  # what every ledger node does at start
    entry = decode_entry(leaf)
    assert entry.org == "hospital-a"
    assert [e.org for e in entry.endorsements] == ["insurer-b", "agency-c"]
    assert encode_entry(entry.tx, entry.sig, entry.endorsements) == leaf  # sign_entry's format
    assert entry.body["quorum"] == {"rule": "K_OF_N", "k": 2}
    assert entry.body["policy"]["digest"] == policy_digest(POLICY.read_bytes())
    checks = set()
    keys = set()
    for org in ORGS:
        joined = ok(["member", "join", "--config", config(tmp_path, org), "--genesis", str(out)])
        checks.add(joined.out.split("patient key check ")[1].split()[0])
        settings = Settings.load(tmp_path / org / "medgate.toml")
        assert settings.consortium == cid
        assert settings.keys.genesis.read_bytes() == leaf
        key_file = settings.keys.patient_key
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        keys.add(load_patient_key(key_file.read_bytes()))
    assert len(keys) == 1
    assert len(next(iter(keys))) == 32
    assert len(checks) == 1
    # The patient key is in clear in no shared file (cards, packages, genesis, shares).
    (patient_key,) = keys
    shared = [p for p in tmp_path.iterdir() if p.is_file()]
    shared += [tmp_path / org / "card.json" for org in ORGS]
    assert len(shared) >= 8
    for path in shared:
        data = path.read_bytes()
        for spelling in spellings(patient_key):
            assert spelling not in data, path
    # No member folder (nor any shared file) holds another member's private key material.
    for owner in ORGS:
        secrets_of_owner = list(private_material(tmp_path / owner))
        assert len(secrets_of_owner) > 20
        others = [f for o in ORGS if o != owner for f in files_under(tmp_path / o)]
        for path in [*others, *shared]:
            data = path.read_bytes()
            assert not any(secret in data for secret in secrets_of_owner), (owner, path)


def test_joining_twice_is_a_no_op_and_another_genesis_is_refused(tmp_path: Path) -> None:
    _members(tmp_path)
    package = _signed(tmp_path, "hospital-a", "insurer-b", "agency-c")
    out = tmp_path / "genesis.json"
    ok(["consortium", "seal", str(package), "--out", str(out)])
    join = ["member", "join", "--config", config(tmp_path, "agency-c"), "--genesis", str(out)]
    first = ok(join)
    assert ok(join).out == first.out
    # A second consortium of the same members: agency-c already belongs to the first one.
    again = _signed_again(tmp_path)
    ok(["consortium", "seal", str(again), "--out", str(tmp_path / "other.json")])
    other = str(tmp_path / "other.json")
    argv = ["member", "join", "--config", config(tmp_path, "agency-c"), "--genesis", other]
    refused(argv, "already belongs to consortium")


def _signed_again(root: Path) -> Path:
    package = root / "q0.json"
    genesis(root, ORGS, package)
    for number, org in enumerate(ORGS, start=1):
        sign(root, org, package, root / f"q{number}.json")
        package = root / f"q{number}.json"
    return package


def test_a_non_founder_cannot_sign(tmp_path: Path) -> None:
    _members(tmp_path)
    keygen(tmp_path, "insurer-z", "insurer", 9200)
    package = _signed(tmp_path)
    argv = ["sign", "--config", config(tmp_path, "insurer-z"), str(package), str(tmp_path / "x")]
    refused(argv, "insurer-z is not a founder")
    assert not (tmp_path / "x").exists()


def test_a_founder_signs_once(tmp_path: Path) -> None:
    _members(tmp_path)
    package = _signed(tmp_path, "insurer-b")
    argv = ["sign", "--config", config(tmp_path, "insurer-b"), str(package), str(tmp_path / "x")]
    refused(argv, "insurer-b has signed this genesis already")


def test_a_config_with_another_key_is_refused(tmp_path: Path) -> None:
    _members(tmp_path)
    # Another hospital-a (a second keygen elsewhere): same org id, not the key on the card.
    keygen(tmp_path / "elsewhere", "hospital-a", "hospital", 9300)
    package = _signed(tmp_path)
    wrong = str(tmp_path / "elsewhere" / "hospital-a" / "medgate.toml")
    refused(["sign", "--config", wrong, str(package), str(tmp_path / "x")], "is not on hospital-a")
    refused(["sign", "--config", str(tmp_path / "nowhere.toml"), str(package), "x"], "cannot be")


def test_a_package_changed_after_someone_signed_is_refused(tmp_path: Path) -> None:
    _members(tmp_path)
    package = _signed(tmp_path, "insurer-b")

    def rename(value: dict[str, Any]) -> None:
        value["tx"]["body"]["name"] = "another consortium"

    renamed = _edit(package, rename)
    out = str(tmp_path / "x")
    argv = ["sign", "--config", config(tmp_path, "hospital-a"), str(renamed), out]
    refused(argv, "insurer-b's signature does not verify")

    def move(value: dict[str, Any]) -> None:
        value["cards"][2]["member"]["endpoint"] = "https://attacker.example"

    moved = _edit(package, move)
    argv = ["sign", "--config", config(tmp_path, "agency-c"), str(moved), out]
    refused(argv, "not exactly the founders' cards")


def test_seal_needs_every_founders_signature(tmp_path: Path) -> None:
    _members(tmp_path)
    package = _signed(tmp_path, "hospital-a", "insurer-b")
    out = tmp_path / "genesis.json"
    refused(["consortium", "seal", str(package), "--out", str(out)], "not signed: agency-c")
    assert not out.exists()

    def drop_share(value: dict[str, Any]) -> None:
        value["patient_key"]["envelopes"].pop("agency-c")

    sign(tmp_path, "agency-c", package, tmp_path / "all.json")
    broken = _edit(tmp_path / "all.json", drop_share)
    refused(["consortium", "seal", str(broken), "--out", str(out)], "every founder, exactly")
    ok(["consortium", "seal", str(tmp_path / "all.json"), "--out", str(out)])
    refused(["consortium", "seal", str(tmp_path / "all.json"), "--out", str(out)], "exists")


def test_a_share_moved_to_another_founder_does_not_open(tmp_path: Path) -> None:
    _members(tmp_path)
    package = _signed(tmp_path, "hospital-a", "insurer-b", "agency-c")
    out = tmp_path / "genesis.json"
    ok(["consortium", "seal", str(package), "--out", str(out)])
    shares = tmp_path / "genesis.patient-key-shares.json"
    value = json.loads(shares.read_bytes())
    envelopes = value["patient_key"]["envelopes"]
    envelopes["agency-c"] = envelopes["hospital-a"]
    shares.write_text(json.dumps(value))
    argv = ["member", "join", "--config", config(tmp_path, "agency-c"), "--genesis", str(out)]
    refused(argv, "agency-c's patient-key share does not open")
    assert not (tmp_path / "agency-c" / "keys" / "patient.key").exists()
    assert 'consortium = ""' in (tmp_path / "agency-c" / "medgate.toml").read_text()


def test_cards_are_checked_against_confirmed_fingerprints(tmp_path: Path) -> None:
    _members(tmp_path)
    card = tmp_path / "agency-c" / "card.json"
    fingerprint = ok(["consortium", "genesis", "--card", str(card), "--out", str(tmp_path / "a")])
    good = fingerprint.out.split("fingerprint ")[1].split()[0]
    # Someone changed the card's bytes on the way (a new endpoint): the confirmed print differs.
    value = json.loads(card.read_bytes())
    value["member"]["endpoint"] = "https://attacker.example"
    card.write_text(json.dumps(value))
    argv = ["consortium", "genesis", "--card", str(card), "--out", str(tmp_path / "b")]
    refused([*argv, "--fingerprint", f"agency-c={good}"], "not the")
    assert not (tmp_path / "b").exists()
    # A card whose key does not match its kid is no card at all.
    value["member"]["signing_keys"][0]["kid"] = "A" * 43
    card.write_text(json.dumps(value))
    refused(argv, "would be refused")
    package = _signed_with_prints(tmp_path)
    argv = ["sign", "--config", config(tmp_path, "hospital-a"), str(package), str(tmp_path / "c")]
    refused([*argv, "--fingerprint", "hospital-a=" + "0" * 64], "not the")


def _signed_with_prints(root: Path) -> Path:
    package = root / "f0.json"
    genesis(root, ["hospital-a", "insurer-b"], package)
    return package


@pytest.mark.parametrize(
    ("rule", "problem"),
    [("3-of-2", "N must be"), ("4-of-3", "between 1 and N"), ("SOME", "K-of-N")],
)
def test_bad_quorum_rules_are_refused(tmp_path: Path, rule: str, problem: str) -> None:
    _members(tmp_path)
    cards = [a for org in ORGS for a in ("--card", str(tmp_path / org / "card.json"))]
    out = str(tmp_path / "p.json")
    refused(["consortium", "genesis", *cards, "--quorum", rule, "--out", out], problem)


def test_init_runs_the_same_ceremony_on_one_machine(tmp_path: Path) -> None:
    root = tmp_path / "c"
    members = [a for org, role in FOUNDERS for a in ("--org", f"{org}:{role}")]
    ran = ok(["init", "--dir", str(root), *members, "--pq", "insurer-b", "--base-port", "9400"])
    leaf = (root / "consortium" / "genesis.json").read_bytes()
    assert consortium_id(leaf) in ran.out
    entry = decode_entry(leaf)
    assert (entry.org, [e.org for e in entry.endorsements]) == ("hospital-a", ORGS[1:])
    keys = {load_patient_key((root / org / "keys" / "patient.key").read_bytes()) for org in ORGS}
    assert len(keys) == 1
    shares = (root / "consortium" / "genesis.patient-key-shares.json").read_bytes()
    assert not any(s in shares for s in spellings(next(iter(keys))))
    for owner in ORGS:
        secrets_of_owner = list(private_material(root / owner))
        others = [f for o in ORGS if o != owner for f in files_under(root / o)]
        for path in [*others, *files_under(root / "consortium")]:
            data = path.read_bytes()
            assert not any(secret in data for secret in secrets_of_owner), (owner, path)


def test_a_member_admitted_later_gets_the_patient_key_from_a_member(tmp_path: Path) -> None:
    _members(tmp_path)
    package = _signed(tmp_path, "hospital-a", "insurer-b", "agency-c")
    out = tmp_path / "genesis.json"
    ok(["consortium", "seal", str(package), "--out", str(out)])
    for org in ORGS:
        ok(["member", "join", "--config", config(tmp_path, org), "--genesis", str(out)])
    keygen(tmp_path, "insurer-d", "insurer", 9500, "--pq")
    newcomer = tmp_path / "insurer-d" / "card.json"
    handover = tmp_path / "handover.json"
    share = ["member", "share-key", "--card", str(newcomer), "--out", str(handover)]
    # A member that has not joined has no key to hand over.
    refused([*share, "--config", config(tmp_path, "insurer-d")], "has not joined")
    ok([*share, "--config", config(tmp_path, "agency-c")])
    join = ["member", "join", "--config", config(tmp_path, "insurer-d"), "--genesis", str(out)]
    join += ["--shares", str(handover)]
    # agency-c is a founder: its genesis key checks the share; a wrong sender card is refused.
    refused([*join, "--sender-card", str(tmp_path / "hospital-a" / "card.json")], "not from")
    refused(
        [
            "member",
            "join",
            "--config",
            config(tmp_path, "insurer-b"),
            "--genesis",
            str(out),
            "--shares",
            str(handover),
        ],
        "no patient-key share for insurer-b",
    )
    joined = ok(join)
    assert (
        joined.out.split("check ")[1].split()[0]
        in ok(
            ["member", "join", "--config", config(tmp_path, "agency-c"), "--genesis", str(out)]
        ).out
    )
    keys = {
        load_patient_key((tmp_path / o / "keys" / "patient.key").read_bytes())
        for o in [*ORGS, "insurer-d"]
    }
    assert len(keys) == 1
    assert Settings.load(tmp_path / "insurer-d" / "medgate.toml").consortium == consortium_id(
        out.read_bytes()
    )
    # insurer-d, not a founder, hands the key on: the next one names it with its card.
    keygen(tmp_path, "agency-e", "agency", 9501)
    second = tmp_path / "second.json"
    ok(
        [
            "member",
            "share-key",
            "--config",
            config(tmp_path, "insurer-d"),
            "--card",
            str(tmp_path / "agency-e" / "card.json"),
            "--out",
            str(second),
        ]
    )
    join_e = [
        "member",
        "join",
        "--config",
        config(tmp_path, "agency-e"),
        "--genesis",
        str(out),
        "--shares",
        str(second),
    ]
    refused(join_e, "not a founder: give its card")
    ok([*join_e, "--sender-card", str(newcomer)])
    assert load_patient_key((tmp_path / "agency-e" / "keys" / "patient.key").read_bytes()) in keys
    assert not any(s in second.read_bytes() + handover.read_bytes() for s in spellings(*keys))
