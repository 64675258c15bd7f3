"""A member rotates its own keys: new private keys beside the old, the ``member.update`` body to
propose, and, once the update is committed, the old keys kept as retired.

No step needs another member's key. Signing and encryption keys are on the ledger, so they change
in two moves: ``begin_*`` writes the next key (``keys/*.next.*``, 0600) and returns the body the
consortium endorses; the gateway already holds the next key and starts using it when its node
commits the update; ``finish`` then makes the next key the key in force and keeps the old one in
``keys/retired/`` (checking the ledger first). The token key is this gateway's alone: ``rotate_token``
switches at once and keeps the old key retired for the overlap. See docs/key-rotation.md.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth.keys import public_jwk as token_public_jwk
from gateway.crypto.keys import generate_encryption_key, is_pq, public_jwk, read_jwk
from gateway.crypto.keys import write_private_jwk as _write_jwk
from gateway.fileperms import replace_private
from gateway.identity import certs, keyfiles
from gateway.identity.files import (
    cert_pem,
    load_private_key,
    private_key_pem,
    write_private,
    write_public,
)
from gateway.settings import Settings
from ledger.signing import ES256, generate_signing_key, kid_of, public_key_b64
from ledger.state import member
from ledger.state.membership import signing_key
from ledger.statekv import StateReader


class RotationError(Exception):
    """A rotation step cannot be taken (``problem`` says why and what to do)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _fresh(path: Path) -> Path:
    pending = keyfiles.next_path(path)
    if pending.exists():
        raise RotationError(
            f"a rotation is already pending ({pending}): commit its member.update and run "
            "`medgate member rotate --finish`, or delete that file to abandon it"
        )
    return pending


def begin_signing(
    settings: Settings, now: datetime, *, retire_old: bool = True, compromised: bool = False
) -> dict[str, Any]:
    """Write the next signing key (and, when the organisation CA's key is at hand, its
    certificate valid from ``now``); the ``member.update`` body that adds it (and retires the key
    in force unless ``retire_old`` is False: then retire it later with another update).
    ``compromised``: the old key may be in other hands; peers refuse it from the commit on."""
    if compromised and not retire_old:
        raise RotationError("a compromised key is retired at once: drop --keep-old")
    path = settings.keys.signing_key
    old = load_private_key(path)
    pending = _fresh(path)
    new = generate_signing_key()
    write_private(pending, private_key_pem(new))
    _certify(settings, new, now)
    added = {"kid": kid_of(new.public_key()), "pub": public_key_b64(new.public_key()), "alg": ES256}
    body: dict[str, Any] = {"org": settings.org, "add_signing_key": added}
    if retire_old:
        body["retire_kid"] = kid_of(old.public_key())
    if compromised:
        body["compromised"] = True
    return body


def _certify(settings: Settings, key: ec.EllipticCurvePrivateKey, now: datetime) -> bool:
    """Issue the next key's certificate (``keys/signing.next.pem``) with the organisation CA;
    False when its key is not here (kept offline: issue it there, see docs/key-rotation.md)."""
    if not settings.keys.ca_key.is_file():
        return False
    ca = certs.IssuedCert(
        load_private_key(settings.keys.ca_key),
        x509.load_pem_x509_certificate(settings.keys.ca_cert.read_bytes()),
    )
    cert = certs.issue(ca, settings.org, "signing", key, now)
    write_public(keyfiles.next_path(settings.keys.cert), cert_pem(cert))
    return True


def begin_encryption(settings: Settings) -> dict[str, Any]:
    """Write the next encryption key (post-quantum if the one in force is); the body that
    registers it as the member's encryption key (the old private key stays to open old envelopes)."""
    path = settings.keys.encryption_key
    pending = _fresh(path)
    new = generate_encryption_key(is_pq(read_jwk(path)))
    _write_jwk(pending, new)
    public = public_jwk(new)
    key = {"kid": public["kid"], "alg": public["alg"], "jwk": public}
    return {"org": settings.org, "encryption_keys": [key]}


def rotate_token(settings: Settings, now: int) -> dict[str, Any]:
    """Keep the token key in force as retired at ``now`` (epoch seconds) and put a new one in
    force; returns the new public JWKS (the ``token_jwks`` of the member card)."""
    path = settings.keys.token_key
    old_bytes = path.read_bytes()
    old = load_private_key(path)
    new = generate_signing_key()
    keyfiles.retire(path, kid_of(old.public_key()), old_bytes, now)
    replace_private(path, private_key_pem(new))
    return {"keys": [token_public_jwk(new.public_key())]}


def finish(settings: Settings, state: StateReader, now: int) -> list[str]:
    """After the update committed: each pending key the ledger shows in force becomes the key in
    force; the old one is kept retired. Raises RotationError when nothing is pending or a pending
    key is not on the ledger yet (nothing is moved then)."""
    record = member(state, settings.org)
    if record is None:
        raise RotationError(f"{settings.org} is not a member on this ledger")
    signing, encryption = settings.keys.signing_key, settings.keys.encryption_key
    moves: list[tuple[Path, str, bytes, int]] = []
    if keyfiles.next_path(signing).exists():
        new = kid_of(load_private_key(keyfiles.next_path(signing)).public_key())
        if new not in record.active_kids():
            raise RotationError(f"signing key {new} is not active on the ledger yet")
        old = kid_of(load_private_key(signing).public_key())
        row = signing_key(state, old)
        at = now if row is None or row.retired_ts is None else row.retired_ts // 1000
        moves.append((signing, old, signing.read_bytes(), at))
    if keyfiles.next_path(encryption).exists():
        new_enc = public_jwk(read_jwk(keyfiles.next_path(encryption)))["kid"]
        if new_enc not in {k.kid for k in record.encryption_keys}:
            raise RotationError(f"encryption key {new_enc} is not registered on the ledger yet")
        old_enc = public_jwk(read_jwk(encryption))["kid"]
        moves.append((encryption, old_enc, encryption.read_bytes(), now))
    if not moves:
        raise RotationError("no rotation is pending (no keys/*.next.* file)")
    done = []
    pending_cert = keyfiles.next_path(settings.keys.cert)
    if keyfiles.next_path(signing).exists() and pending_cert.exists():
        os.replace(pending_cert, settings.keys.cert)  # public: the old certificate needs no copy
        done.append(f"{settings.keys.cert.name}: the new key's certificate in force")
    for path, old_kid, data, at in moves:
        kept = keyfiles.retire(path, old_kid, data, at)
        keyfiles.promote(path)
        done.append(f"{path.name}: new key in force; old key {old_kid} kept as {kept}")
    return done
