"""`medgate init`: a whole consortium on one machine, made by the same steps a real one follows.

Each founder makes its own keys and card (``member keygen``), the cards are assembled into an
unsigned genesis package (``consortium genesis``), each founder signs it with its own key in turn
(``sign``; the first one also draws the patient key and seals a share to each founder), the
package is sealed into the genesis (``consortium seal``) and each founder installs it and its
share (``member join``). Only the folders are on one disk: no step reads another member's
private key. Nothing is ever overwritten: the whole target is checked before the first byte is
written.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.clock import now_ms, utcnow
from gateway.crypto.keys import read_jwk
from gateway.identity.card import MemberCard
from gateway.identity.ceremony import Signer, assemble, seal, sign
from gateway.identity.files import ExistingMaterialError, load_private_key, write_public
from gateway.identity.join import join, shares_file_bytes
from gateway.identity.member_keys import NewMember, generate_member
from gateway.identity.patient_share import PATIENT_KEY_BYTES
from gateway.identity.policy_terms import default_policy_terms
from ledger.entries import nonce_from_bytes

ORG_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
SHARED_GENESIS = "../consortium/genesis.json"
"""Where `medgate init` members find the genesis: one shared copy in ``root/consortium``."""

Narrate = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class MemberSpec:
    org: str
    role: str
    post_quantum: bool = False
    name: str | None = None
    """The display name in the member registry (patients see it); the org id when None."""


@dataclass(frozen=True, slots=True)
class CreatedMember:
    org: str
    role: str
    public_url: str
    config: Path


@dataclass(frozen=True, slots=True)
class Created:
    consortium_id: str
    members: list[CreatedMember]


def _check_target(root: Path, members: list[MemberSpec]) -> None:
    orgs = [m.org for m in members]
    if len(members) < 1:
        raise ValueError("a consortium needs at least one member")
    if len(set(orgs)) != len(orgs):
        raise ValueError("member ids must be unique")
    for org in orgs:
        if not ORG_ID.match(org):
            raise ValueError(f"member id {org!r}: lowercase letters, digits and dashes, 2-63 chars")
    for path in [root / "consortium", *(root / org for org in orgs)]:
        if path.exists():
            raise ExistingMaterialError(str(path))


def _quiet(_: str) -> None:
    return None


def create_consortium(
    root: Path,
    name: str,
    members: list[MemberSpec],
    *,
    base_port: int = 8401,
    ports: Sequence[int] | None = None,
    quorum: Mapping[str, Any] | None = None,
    narrate: Narrate = _quiet,
    urls: Mapping[str, str] | None = None,
) -> Created:
    """Write a new consortium under ``root``; member ``i`` listens on ``ports[i]`` (default
    ``base_port + i``); ``quorum`` defaults to MAJORITY. ``narrate`` is told each ceremony step.
    ``urls`` gives a member's public URL instead of ``http://127.0.0.1:<port>`` (an
    ``https://host[:port]`` member gets a TLS certificate naming that host). Raises
    ExistingMaterialError before writing anything if any of its folders exist already, ValueError
    for a bad member list."""
    _check_target(root, members)
    if ports is not None and len(ports) != len(members):
        raise ValueError("give one port per member")
    chosen = list(ports) if ports is not None else [base_port + i for i in range(len(members))]
    not_before = utcnow()
    cards: list[MemberCard] = []
    created = []
    for offset, spec in enumerate(members):
        url = (urls or {}).get(spec.org) or f"http://127.0.0.1:{chosen[offset]}"
        new = NewMember(spec.org, spec.role, url, post_quantum=spec.post_quantum, name=spec.name)
        cards.append(generate_member(root / spec.org, new, not_before, genesis=SHARED_GENESIS))
        created.append(CreatedMember(spec.org, spec.role, url, root / spec.org / "medgate.toml"))
        narrate(
            f"member keygen: {spec.org} made its own keys and card ({cards[-1].fingerprint[:16]}...)"
        )
    package = assemble(
        cards,
        name,
        quorum or {"rule": "MAJORITY"},
        default_policy_terms(),
        now_ms(),
        nonce_from_bytes(secrets.token_bytes(16)),
    )
    narrate(f"consortium genesis: an unsigned genesis of {len(cards)} founders' cards")
    for item in created:
        package = sign(package, _signer(item), secrets.token_bytes(PATIENT_KEY_BYTES))
        drew = " and drew the patient key" if item.org == package.founders[0] else ""
        narrate(f"sign: {item.org} signed with its own key{drew}")
    sealed = seal(package)
    genesis = root / "consortium" / "genesis.json"
    write_public(genesis, sealed.leaf)
    shares = shares_file_bytes(sealed.consortium, sealed.shares)
    write_public(genesis.with_name("genesis.patient-key-shares.json"), shares)
    narrate("consortium seal: every founder signed; the ledger's genesis rule accepts it")
    for item in created:
        join(item.config, sealed.leaf, shares)
    narrate(
        f"member join: each founder opened its own patient-key share ({sealed.shares.check[:16]}...)"
    )
    return Created(sealed.consortium, created)


def _signer(member: CreatedMember) -> Signer:
    """A founder's signer from its own folder only."""
    keys = member.config.parent / "keys"
    return Signer(
        member.org,
        load_private_key(keys / "signing.key"),
        read_jwk(keys / "encryption.jwk.json"),
    )
