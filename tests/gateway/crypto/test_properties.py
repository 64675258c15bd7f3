"""Properties: any payload round-trips; any single changed byte of an envelope is refused."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.crypto import b64
from gateway.crypto.envelope import open_envelope, seal
from gateway.crypto.errors import EnvelopeError
from tests.gateway.crypto.conftest import Member, Registry, make_member

SENDER = make_member("hospital-a", pq=False)
CLASSICAL = make_member("insurer-b", pq=False)
POST_QUANTUM = make_member("agency-c", pq=True)
REGISTRY = Registry(SENDER)


def _seal(payload: bytes, to: Member) -> bytes:
    return seal(payload, SENDER.org, SENDER.kid, SENDER.signing_key, [to.recipient])


@settings(max_examples=25, deadline=None)
@given(payload=st.binary(max_size=3000), pq=st.booleans())
def test_any_payload_round_trips(payload: bytes, pq: bool) -> None:
    to = POST_QUANTUM if pq else CLASSICAL
    opened = open_envelope(_seal(payload, to), to.org, to.enc_key, REGISTRY)
    assert opened.payload == payload


ENVELOPES = {False: _seal(b'{"resourceType":"Bundle"}', CLASSICAL)}
ENVELOPES[True] = _seal(b'{"resourceType":"Bundle"}', POST_QUANTUM)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), pq=st.booleans())
def test_any_changed_byte_is_refused(data: st.DataObject, pq: bool) -> None:
    envelope = ENVELOPES[pq]
    to = POST_QUANTUM if pq else CLASSICAL
    index = data.draw(st.integers(0, len(envelope) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != envelope[index]))
    changed = envelope[:index] + bytes([new]) + envelope[index + 1 :]
    with pytest.raises(EnvelopeError):
        open_envelope(changed, to.org, to.enc_key, REGISTRY)


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=64))
def test_base64url_round_trips_unpadded_and_canonical(data: bytes) -> None:
    text = bytes(b64.encode(data))
    assert b64.decode(text) == data
    assert not set(text) & set(b"=+/")
    if len(data) % 3:  # the last character has unused low bits: setting one must be refused
        last = b64._ALPHABET.index(text[-1:])
        with pytest.raises(ValueError, match="non-canonical"):
            b64.decode(text[:-1] + b64._ALPHABET[last | 1 : (last | 1) + 1])
