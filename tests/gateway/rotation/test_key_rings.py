"""The key rings on their own: file layout, which signing key is chosen, token keys across a
rotation and its overlap, envelopes opened with a retired encryption key, the directory's overlap."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth.keys import kid_of as token_kid
from gateway.auth.token_keys import TokenKeys
from gateway.crypto.envelope import Recipient, open_envelope, open_envelope_with, seal
from gateway.crypto.errors import NotARecipient
from gateway.crypto.keyring import DecryptionRing
from gateway.crypto.keys import generate_encryption_key, public_jwk, write_private_jwk
from gateway.fileperms import replace_private
from gateway.identity import keyfiles
from gateway.identity.files import private_key_pem, write_private
from gateway.identity.signing_ring import PeerKey, SigningRing, active_signing_key, peer_key
from gateway.services.directory import LedgerDirectory
from gateway.services.exchange import Exchange, open_mine
from ledger.ids import Kid, OrgId
from ledger.signing import generate_signing_key, kid_of
from ledger.state.membership import Member, SigningKey
from ledger.validation.codes import ValidationCode as C
from tests.ledger.core.world import HOSPITAL, INSURER, three_orgs

T = 1_900_000_000


def test_file_layout_names() -> None:
    keys = Path("/m/keys")
    assert keyfiles.next_path(keys / "signing.key") == keys / "signing.next.key"
    assert keyfiles.next_path(keys / "encryption.jwk.json") == keys / "encryption.next.jwk.json"
    assert keyfiles.retired_path(keys / "token.key", "abc") == keys / "retired/token-abc.key"
    assert (
        keyfiles.marker_path(keys / "token.key", "abc") == keys / "retired/token-abc.retired.json"
    )
    with pytest.raises(ValueError, match="kid"):
        keyfiles.retired_path(keys / "token.key", "../x")


def test_signing_ring_prefers_the_next_key_and_forgets_none(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    old, new = generate_signing_key(), generate_signing_key()
    write_private(path, private_key_pem(old))
    ring = SigningRing(path)
    old_kid, new_kid = kid_of(old.public_key()), kid_of(new.public_key())
    assert ring.kid == old_kid
    assert ring.choose({old_kid}) is None  # unchanged
    write_private(keyfiles.next_path(path), private_key_pem(new))
    assert ring.choose({old_kid, new_kid}) is None  # not loaded yet: still the old one
    ring.reload()
    assert ring.held == {old_kid, new_kid}
    chosen = ring.choose({old_kid, new_kid})  # both active (add first, retire later)
    assert chosen is not None
    assert kid_of(chosen.public_key()) == new_kid == ring.kid
    os.unlink(keyfiles.next_path(path))
    ring.reload()
    assert ring.held == {old_kid, new_kid}  # a moved file is not a forgotten key
    assert ring.choose({Kid("someone-else")}) is None  # nothing held is active: keep signing
    assert ring.kid == new_kid


def test_token_keys_follow_the_file_and_accept_the_retired_key_for_the_overlap(
    tmp_path: Path,
) -> None:
    path = tmp_path / "token.key"
    old, new = generate_signing_key(), generate_signing_key()
    write_private(path, private_key_pem(old))
    keys = TokenKeys.from_file(path, overlap=60)
    old_kid, new_kid = token_kid(old.public_key()), token_kid(new.public_key())
    assert keys.signer()[1] == old_kid
    keyfiles.retire(path, old_kid, path.read_bytes(), T)
    replace_private(path, private_key_pem(new))
    assert keys.signer()[1] == new_kid
    assert keys.verifier(old_kid, T + 59) == old.public_key()
    assert keys.verifier(old_kid, T + 60) is None
    assert keys.verifier(new_kid, T + 10_000) == new.public_key()
    assert keys.verifier("unknown", T) is None
    # No readable retirement time: the retired key is refused at once (fail closed).
    keyfiles.marker_path(path, old_kid).write_text("{}")
    fresh = TokenKeys.from_file(path, overlap=60)
    assert fresh.verifier(old_kid, T) is None


def test_a_fixed_token_key_never_reads_files() -> None:
    key = generate_signing_key()
    keys = TokenKeys(key)
    assert keys.signer() == (key, token_kid(key.public_key()))
    assert keys.verifier("other", T) is None


def test_envelope_sealed_to_a_retired_encryption_key_opens_by_kid(tmp_path: Path) -> None:
    path = tmp_path / "encryption.jwk.json"
    old, new = generate_encryption_key(False), generate_encryption_key(False)
    write_private_jwk(path, old)
    sender = generate_signing_key()

    def senders(org: str, kid: str) -> ec.EllipticCurvePublicKey | None:
        return sender.public_key() if kid == kid_of(sender.public_key()) else None

    def sealed_to(jwk: dict[str, str]) -> bytes:
        to = [Recipient("hospital-d", public_jwk(jwk))]
        return seal(b"{}", "hospital-a", kid_of(sender.public_key()), sender, to)

    before = sealed_to(old)
    # Rotation: the new key in force, the old one kept retired.
    (tmp_path / "retired").mkdir()
    write_private_jwk(keyfiles.retired_path(path, old["kid"]), old)
    os.unlink(path)
    write_private_jwk(path, new)
    ring = DecryptionRing(path)
    assert [k["kid"] for k in ring.held()] == [new["kid"], old["kid"]]
    assert open_envelope_with(before, "hospital-d", ring.held(), senders).payload == b"{}"
    after = sealed_to(new)
    assert open_envelope_with(after, "hospital-d", ring.held(), senders).payload == b"{}"
    with pytest.raises(NotARecipient):
        open_envelope(before, "hospital-d", new, senders)
    stranger = sealed_to(generate_encryption_key(False))
    with pytest.raises(NotARecipient):
        open_envelope_with(stranger, "hospital-d", ring.held(), senders)


def test_directory_accepts_a_retired_key_until_the_retiring_ts_plus_the_overlap() -> None:
    world, chain = three_orgs()
    old = world.keys[HOSPITAL]
    new = generate_signing_key()
    body = world.rotation(HOSPITAL, new)
    retired_ms = T * 1000
    leaf = world.entry("member.update", HOSPITAL, body, endorsers=[INSURER], ts=retired_ms)
    assert chain.submit(leaf) == C.VALID
    now = [retired_ms]
    directory = LedgerDirectory(chain.state, clock_ms=lambda: now[0], overlap_ms=30_000)
    old_kid, new_kid = kid_of(old.public_key()), kid_of(new.public_key())
    assert directory.signing_key(HOSPITAL, new_kid) == new.public_key()
    now[0] = retired_ms + 29_999
    assert directory.signing_key(HOSPITAL, old_kid) == old.public_key()
    assert directory.signing_key(INSURER, old_kid) is None  # another member's kid
    now[0] = retired_ms + 30_000
    assert directory.signing_key(HOSPITAL, old_kid) is None
    assert directory.signing_key(HOSPITAL, new_kid) == new.public_key()
    # Without a clock or an overlap, a retired key is refused at once.
    assert LedgerDirectory(chain.state).signing_key(HOSPITAL, old_kid) is None
    assert (
        LedgerDirectory(chain.state, clock_ms=lambda: retired_ms).signing_key(HOSPITAL, old_kid)
        is None
    )


def test_marker_records_when_a_key_retired(tmp_path: Path) -> None:
    path = tmp_path / "token.key"
    kept = keyfiles.retire(path, "kid1", b"pem", T)
    assert kept.read_bytes() == b"pem"
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    assert json.loads(keyfiles.marker_path(path, "kid1").read_text()) == {
        "kid": "kid1",
        "retired_at": T,
    }
    assert keyfiles.retired_at(path, "kid1") == T
    assert keyfiles.retired_at(path, "kid2") is None
    with pytest.raises(FileExistsError):
        keyfiles.retire(path, "kid1", b"other", T)


def test_directory_overlap_runs_from_the_block_that_committed_the_retirement() -> None:
    """A member.update proposed long before it reached quorum: its entry ts is an hour old, the
    block that committed it is recent; the overlap starts at the block's ts."""
    world, chain = three_orgs()
    old = world.keys[HOSPITAL]
    body = world.rotation(HOSPITAL, generate_signing_key())
    proposed, committed = T * 1000, T * 1000 + 3_600_000
    leaf = world.entry("member.update", HOSPITAL, body, endorsers=[INSURER], ts=proposed)
    assert chain.submit(leaf) == C.VALID
    blocks = {1: committed}
    now = [committed + 29_999]
    directory = LedgerDirectory(
        chain.state, clock_ms=lambda: now[0], overlap_ms=30_000, block_ts=blocks.get
    )
    old_kid = kid_of(old.public_key())
    assert directory.signing_key(HOSPITAL, old_kid) == old.public_key()
    now[0] = committed + 30_000
    assert directory.signing_key(HOSPITAL, old_kid) is None
    # A block that cannot be read: the entry's own ts starts it (never later than the block's).
    lost = LedgerDirectory(
        chain.state, clock_ms=lambda: proposed + 29_999, overlap_ms=30_000, block_ts=lambda i: None
    )
    assert lost.signing_key(HOSPITAL, old_kid) == old.public_key()


def test_directory_grants_a_compromised_key_no_overlap() -> None:
    world, chain = three_orgs()
    old = world.keys[HOSPITAL]
    body = world.rotation(HOSPITAL, generate_signing_key(), compromised=True)
    leaf = world.entry("member.update", HOSPITAL, body, endorsers=[INSURER], ts=T * 1000)
    assert chain.submit(leaf) == C.VALID
    directory = LedgerDirectory(chain.state, clock_ms=lambda: T * 1000, overlap_ms=30_000)
    assert directory.signing_key(HOSPITAL, kid_of(old.public_key())) is None


def test_a_one_shot_command_signs_with_the_key_the_ledger_holds(tmp_path: Path) -> None:
    """`medgate ledger verify --against` between a rotation's commit and its --finish."""
    path = tmp_path / "signing.key"
    old, new = generate_signing_key(), generate_signing_key()
    write_private(path, private_key_pem(old))
    write_private(keyfiles.next_path(path), private_key_pem(new))
    old_kid, new_kid = kid_of(old.public_key()), kid_of(new.public_key())
    assert kid_of(active_signing_key(path, {new_kid}).public_key()) == new_kid
    assert kid_of(active_signing_key(path, {old_kid}).public_key()) == old_kid
    assert kid_of(active_signing_key(path, ()).public_key()) == old_kid


def test_a_next_encryption_key_is_held_as_soon_as_its_file_exists(tmp_path: Path) -> None:
    """No pacing by time: a next key file is held on the very next look, however soon after an
    earlier one; a look that finds nothing new reads no file."""
    path = tmp_path / "encryption.jwk.json"
    current, upcoming = generate_encryption_key(False), generate_encryption_key(False)
    write_private_jwk(path, current)
    ring = DecryptionRing(path)
    assert ring.reload() is False  # nothing new: only stat calls
    write_private_jwk(keyfiles.next_path(path), upcoming)
    assert ring.reload() is True
    assert [k["kid"] for k in ring.held()] == [current["kid"], upcoming["kid"]]
    assert ring.reload() is False
    # An unreadable file is retried once it is fixed (its stamp changes when it is rewritten).
    broken = keyfiles.next_path(path)
    os.unlink(broken)
    broken.write_text("not a key")
    assert ring.reload() is False
    replacement = generate_encryption_key(False)
    os.unlink(broken)
    write_private_jwk(broken, replacement)
    assert ring.reload() is True
    assert replacement["kid"] in [k["kid"] for k in ring.held()]


def test_open_mine_retries_when_a_block_loaded_the_key_between_its_two_looks(
    tmp_path: Path,
) -> None:
    """The race CI once hit (a 502 during an encryption rotation): the gateway took its list of
    held keys, the block that commits the rotation loaded the next key in another thread, the
    open failed against the old list, and the gateway's own look then found nothing new. The
    retry is decided by the held keys, not by who loaded them."""
    path = tmp_path / "encryption.jwk.json"
    current, upcoming = generate_encryption_key(False), generate_encryption_key(False)
    write_private_jwk(path, current)
    ring = DecryptionRing(path)
    sender = generate_signing_key()
    sender_kid = kid_of(sender.public_key())
    to = [Recipient("hospital-d", public_jwk(upcoming))]
    envelope = seal(b"{}", "hospital-a", sender_kid, sender, to)
    write_private_jwk(keyfiles.next_path(path), upcoming)
    calls: list[int] = []

    def decryption_keys() -> list[dict[str, str]]:
        held = ring.held()
        if not calls:
            ring.reload()  # the block's reload lands just after the snapshot
        calls.append(len(held))
        return held

    def senders(org: str, kid: str) -> ec.EllipticCurvePublicKey | None:
        return sender.public_key() if (org, kid) == ("hospital-a", sender_kid) else None

    ex = SimpleNamespace(
        org="hospital-d",
        decryption=ring,
        decryption_keys=decryption_keys,
        directory=SimpleNamespace(signing_key=senders),
    )
    assert open_mine(cast("Exchange", ex), envelope).payload == b"{}"
    assert calls == [1, 2]
    stranger = [Recipient("hospital-d", public_jwk(generate_encryption_key(False)))]
    with pytest.raises(NotARecipient):
        open_mine(cast("Exchange", ex), seal(b"{}", "hospital-a", sender_kid, sender, stranger))


def _record(*keys: SigningKey) -> Member:
    return Member(OrgId("hospital-a"), "hospital", "A", "https://a", "active", keys, (), ())


def _key(kid: str, status: str = "active", **kw: Any) -> SigningKey:
    return SigningKey(Kid(kid), OrgId("hospital-a"), "pub", "ES256", status, **kw)


def test_the_key_peers_get_is_read_from_the_record() -> None:
    blocks = {7: T + 5_000}.get  # the block of position 7 is stored; no other
    grace = 60_000
    retired = _key("old", "retired", retired_ts=T, retired_index=7)
    record = _record(retired, _key("new"))
    held = {Kid("old"), Kid("new")}
    assert peer_key(record, Kid("new"), held, blocks, grace) == PeerKey(Kid("old"), T + 65_000)
    unstored = _key("old", "retired", retired_ts=T, retired_index=8)  # its block: not stored
    found = peer_key(_record(unstored, _key("new")), Kid("new"), held, blocks, grace)
    assert found == PeerKey(Kid("old"), T + grace)  # the retiring entry's own ts then
    assert peer_key(record, Kid("new"), {Kid("new")}, blocks, grace) is None  # not held
    leaked = _key("old", "retired", retired_ts=T, retired_index=7, compromised=True)
    assert peer_key(_record(leaked, _key("new")), Kid("new"), held, blocks, grace) is None
    both = _record(_key("old"), _key("new"))  # --keep-old: the older active key, no end
    assert peer_key(both, Kid("new"), held, blocks, grace) == PeerKey(Kid("old"), None)
    assert peer_key(both, Kid("old"), held, blocks, grace) is None  # a newer one is not handed
    assert peer_key(record, Kid("gone"), held, blocks, grace) is None
