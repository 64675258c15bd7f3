"""Typed errors of sealing and opening envelopes and of handling encryption keys.

EnvelopeError                  any failure to seal or open (rebased on GatewayError later)
├── NotARecipient              the envelope names no recipient entry this key can open
├── TamperedEnvelope           framing, header, ciphertext, tag, IV, key wrap or inner JWS
├── BadSender                  the inner signature is by an unknown key or not by the stated sender
├── MixedRecipients            post-quantum and classical recipients in one envelope
├── UnsupportedAlgorithm       an alg/enc/kty outside the pinned allow-list
└── KeyFormatError             a JWK that is malformed or of the wrong kind
"""

from __future__ import annotations


class EnvelopeError(Exception):
    """Root of envelope and key errors: sealing or opening did not happen."""


class NotARecipient(EnvelopeError):
    """No recipient entry of the envelope opens with the given private key."""

    def __init__(self, recipient_org: str) -> None:
        super().__init__(f"envelope is not addressed to {recipient_org!r} under this key")
        self.recipient_org = recipient_org


class TamperedEnvelope(EnvelopeError):
    """The envelope or its inner signature does not verify: refuse it, whatever changed."""

    def __init__(self, part: str) -> None:
        super().__init__(f"envelope refused: {part}")
        self.part = part


class BadSender(EnvelopeError):
    """The inner JWS is not signed by a current member key of the sender the envelope names."""

    def __init__(self, sender_org: str, sender_kid: str, reason: str) -> None:
        super().__init__(f"sender {sender_org!r} kid {sender_kid!r}: {reason}")
        self.sender_org = sender_org
        self.sender_kid = sender_kid
        self.reason = reason


class MixedRecipients(EnvelopeError):
    """Post-quantum and classical recipients together: one classical entry would undo PQ secrecy."""


class UnsupportedAlgorithm(EnvelopeError):
    """An algorithm outside the pinned allow-list: never negotiated down."""

    def __init__(self, what: str, value: object) -> None:
        super().__init__(f"unsupported {what}: {value!r}")
        self.what = what
        self.value = value


class KeyFormatError(EnvelopeError):
    """A JWK that is malformed, lacks a member, or is not the expected kind of key."""
