"""The streaming seal: same token as the plain path at every chunk boundary, serial or threaded."""

from __future__ import annotations

import pytest

from gateway.crypto import jwe, jws, keys, recipients, sealing
from tests.gateway.crypto.conftest import make_member

CHUNK = sealing._CHUNK
SIZES = [0, 1, 2, 3, CHUNK - 1, CHUNK, CHUNK + 1, sealing._PARALLEL_MIN, 2 * CHUNK + 2]


@pytest.mark.parametrize("size", SIZES)
def test_streamed_token_is_the_compact_jws(size: int) -> None:
    sender, receiver = make_member("s", False), make_member("r", False)
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    header = {"kid": sender.kid}
    envelope = sealing.sign_then_encrypt(
        payload, header, sender.signing_key, {"iss": "s"}, [keys.public_jwk(receiver.enc_key)]
    )
    parsed = jwe.parse(envelope)
    (entry,) = parsed.entries
    cek = recipients.unwrap(
        entry.header, entry.encrypted_key, keys.ec_private_key(receiver.enc_key), "A256GCM"
    )
    token = jwe.decrypt(parsed, cek)
    inner = jws.parse_compact(token)
    jws.verify(inner, sender.signing_key.public_key())
    assert inner.payload == payload
    # The streamed header and payload parts are byte for byte those of the plain path.
    plain = jws.sign_compact(payload, header, sender.signing_key)
    assert token.rsplit(b".", 1)[0] == plain.rsplit(b".", 1)[0]
