"""A consortium made by the key ceremony, each step working in one member's folder, runs: every gateway accepts the sealed genesis, all agree on the consortium id,
and an insurer gets a consented claim from a hospital (so both hashed the patient under the same
shared key, which each opened from its own encrypted share)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.identity.pseudonym import load_patient_key
from gateway.settings import Settings
from ledger.genesis import consortium_id
from ledger.state import AccessRecord, access_for_patient
from tests.e2e import records
from tests.e2e.flows import ask, patient_ref_at, seed, types_of
from tests.e2e.gateways import Consortium, Gateway, free_base_port, wait_for
from tests.gateway.identity.ceremony import (
    FOUNDERS,
    files_under,
    genesis,
    keygen,
    ok,
    private_material,
    sign,
)

pytestmark = pytest.mark.e2e


class FromFolders(Consortium):
    """The gateways of member folders made elsewhere (here: by the ceremony)."""

    def __init__(self, gateways: dict[str, Gateway]) -> None:
        self.gateways = gateways


def _ceremony(root: Path, base: int) -> Path:
    """Keygen and join in-process (tests/gateway/identity covers them), the rest as processes."""
    for offset, (org, role) in enumerate(FOUNDERS):
        keygen(root, org, role, base + offset)
    orgs = [org for org, _ in FOUNDERS]
    package = root / "exchange" / "genesis-0.json"
    package.parent.mkdir()
    genesis(root, orgs, package, "--quorum", "ALL", in_process=False)
    for number, org in enumerate(orgs, start=1):
        signed = package.with_name(f"genesis-{number}.json")
        sign(root, org, package, signed, in_process=False)
        package = signed
    sealed = root / "exchange" / "genesis.json"
    ok(["consortium", "seal", str(package), "--out", str(sealed)], in_process=False)
    for org in orgs:
        argv = ["member", "join", "--config", str(root / org / "medgate.toml")]
        ok([*argv, "--genesis", str(sealed)])
    return sealed


def test_gateways_run_from_a_ceremony_made_in_separate_folders(tmp_path: Path) -> None:
    base = free_base_port(len(FOUNDERS))
    sealed = _ceremony(tmp_path, base)
    # One machine: the members share the embedded solo ordering log their configs name
    # (../consortium/ordering.db); across machines they would name their NATS servers instead.
    (tmp_path / "consortium").mkdir(mode=0o700)
    cid = consortium_id(sealed.read_bytes())
    gateways = {
        org: Gateway(org, role, f"http://127.0.0.1:{base + n}", tmp_path / org)
        for n, (org, role) in enumerate(FOUNDERS)
    }
    for gateway in gateways.values():
        assert Settings.load(gateway.folder / "medgate.toml").consortium == cid
    keys = {
        load_patient_key((g.folder / "keys" / "patient.key").read_bytes())
        for g in gateways.values()
    }
    assert len(keys) == 1
    with FromFolders(gateways) as running:
        hospital, insurer, agency = (running[org] for org, _ in FOUNDERS)
        for gateway in gateways.values():
            first = gateway.read_state(lambda store: store.entries(0, 1))
            assert first[0].leaf == sealed.read_bytes()
            assert first[0].tx_id == cid
        patient = seed(hospital, claims=2)
        consent = records.consent(patient.patient_id, "insurer-b", "HPAYMT", ["Claim"])
        hospital.create(consent, hospital.auth())
        answer = ask(insurer, "hospital-a", patient.national_id, "HPAYMT", ["Claim"])
        assert answer.status_code == 200, answer.text
        assert types_of(answer.json()) == ["Claim", "Claim"]
        ref = patient_ref_at(hospital, patient.national_id)
        tx = answer.headers["X-Medgate-Access-Tx"]

        def recorded() -> AccessRecord | None:
            found = agency.read_state(lambda s: access_for_patient(s, ref))
            return next((r for r in found if r.tx_id == tx), None)

        record = wait_for(recorded, "the release on agency-c's own ledger")
        assert (record.requester, record.custodian) == ("insurer-b", "hospital-a")
    # After serving too (databases, logs): no member folder holds another member's private key.
    for owner in gateways:
        secrets_of_owner = list(private_material(tmp_path / owner))
        for other in gateways.keys() - {owner}:
            for path in files_under(tmp_path / other):
                data = path.read_bytes()
                assert not any(secret in data for secret in secrets_of_owner), (owner, path)
