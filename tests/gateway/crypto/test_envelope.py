"""Envelopes: every recipient opens, nobody else does, every change or false sender is refused."""

from __future__ import annotations

import json

import pytest

from gateway.crypto import b64, jwe, jws, keys, recipients
from gateway.crypto.envelope import (
    MAX_PAYLOAD_BYTES,
    envelope_digest,
    open_envelope,
    seal,
)
from gateway.crypto.errors import (
    BadSender,
    EnvelopeError,
    MixedRecipients,
    NotARecipient,
    TamperedEnvelope,
    UnsupportedAlgorithm,
)
from tests.gateway.crypto.conftest import Member, Registry, make_member

BUNDLE = json.dumps(
    {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"id": "p1"}}]}
).encode()


def _seal(sender: Member, *to: Member, payload: bytes = BUNDLE) -> bytes:
    return seal(payload, sender.org, sender.kid, sender.signing_key, [m.recipient for m in to])


def _edit(envelope: bytes, edit: object) -> bytes:
    doc = json.loads(envelope)
    edit(doc)  # type: ignore[operator]
    return json.dumps(doc).encode()


def _private_key(jwk: dict[str, str]) -> recipients.PrivateKey:
    return keys.xwing_private_key(jwk) if keys.is_pq(jwk) else keys.ec_private_key(jwk)


def _flip(text: str) -> str:
    # Change the first character to another valid base64url character with the same unused bits.
    return ("B" if text[0] != "B" else "C") + text[1:]


def test_every_recipient_opens(
    hospital: Member, insurer: Member, agency: Member, registry: Registry
) -> None:
    envelope = _seal(hospital, insurer, agency)
    for member in (insurer, agency):
        opened = open_envelope(envelope, member.org, member.enc_key, registry)
        assert opened.payload == BUNDLE
        assert (opened.sender_org, opened.sender_kid) == (hospital.org, hospital.kid)
        assert opened.digest == envelope_digest(envelope)


def test_envelope_is_general_json_with_pinned_headers(
    hospital: Member, insurer: Member, agency: Member, pq: bool
) -> None:
    doc = json.loads(_seal(hospital, insurer, agency))
    protected = json.loads(b64.decode(doc["protected"]))
    assert protected == {
        "enc": "A256GCM",
        "cty": "application/fhir+json",
        "iss": hospital.org,
        "skid": hospital.kid,
    }
    assert {r["header"]["alg"] for r in doc["recipients"]} == {
        "HPKE-9-KE" if pq else "ECDH-ES+A256KW"
    }
    assert {r["header"]["kid"] for r in doc["recipients"]} == {
        insurer.enc_key["kid"],
        agency.enc_key["kid"],
    }


def test_non_recipient_cannot_open(
    hospital: Member, insurer: Member, agency: Member, registry: Registry
) -> None:
    envelope = _seal(hospital, insurer)
    with pytest.raises(NotARecipient):
        open_envelope(envelope, agency.org, agency.enc_key, registry)


TAMPERS = {
    "ciphertext": lambda d: d.update(ciphertext=_flip(d["ciphertext"])),
    "tag": lambda d: d.update(tag=_flip(d["tag"])),
    "iv": lambda d: d.update(iv=_flip(d["iv"])),
    "protected": lambda d: d.update(
        protected=b64.encode_str(b64.decode(d["protected"]).replace(b"fhir+json", b"fhir+xml"))
    ),
    "aad added": lambda d: d.update(aad="AAAA"),
    "encrypted_key": lambda d: d["recipients"][0].update(
        encrypted_key=_flip(d["recipients"][0]["encrypted_key"])
    ),
    "recipient ek or epk": lambda d: _tamper_ephemeral(d["recipients"][0]["header"]),
    "header moved out of protection": lambda d: d.update(unprotected={"zip": "DEF"}),
}


def _tamper_ephemeral(header: dict[str, object]) -> None:
    if "ek" in header:
        header["ek"] = _flip(str(header["ek"]))
    else:
        header["epk"] = keys.public_jwk(keys.generate_encryption_key(False))


@pytest.mark.parametrize("part", sorted(TAMPERS))
def test_each_change_is_refused(
    part: str, hospital: Member, insurer: Member, registry: Registry
) -> None:
    envelope = _edit(_seal(hospital, insurer), TAMPERS[part])
    with pytest.raises(TamperedEnvelope):
        open_envelope(envelope, insurer.org, insurer.enc_key, registry)


def test_changed_inner_signature_is_refused(
    hospital: Member, insurer: Member, registry: Registry
) -> None:
    header = {"kid": hospital.kid, "iss": hospital.org, "aud": [insurer.org]}
    token = jws.sign_compact(BUNDLE, header, hospital.signing_key)
    forged = token[:-3] + (b"AAA" if token[-3:] != b"AAA" else b"BBA")
    protected = {"iss": hospital.org, "skid": hospital.kid, "cty": "application/fhir+json"}
    envelope = jwe.encrypt(forged, protected, [insurer.recipient.public_jwk])  # type: ignore[list-item]
    with pytest.raises(TamperedEnvelope):
        open_envelope(envelope, insurer.org, insurer.enc_key, registry)


def test_sender_other_than_stated_is_refused(
    hospital: Member, insurer: Member, agency: Member, registry: Registry
) -> None:
    # The agency signs with its own key but the envelope claims to come from the hospital.
    envelope = seal(BUNDLE, hospital.org, agency.kid, agency.signing_key, [insurer.recipient])
    with pytest.raises(BadSender):
        open_envelope(envelope, insurer.org, insurer.enc_key, registry)


def test_unknown_sender_key_is_refused(hospital: Member, insurer: Member, pq: bool) -> None:
    outsider = make_member(hospital.org, pq)  # same org name, key not in the registry
    envelope = _seal(outsider, insurer)
    with pytest.raises(BadSender):
        open_envelope(envelope, insurer.org, insurer.enc_key, Registry(hospital, insurer))


def test_forwarding_to_a_third_party_is_refused(
    hospital: Member, insurer: Member, agency: Member, registry: Registry
) -> None:
    # The insurer re-encrypts the hospital's signed payload to the agency, keeping the headers.
    envelope = _seal(hospital, insurer)
    parsed = jwe.parse(envelope)
    entry = parsed.entries[0]
    key = _private_key(insurer.enc_key)
    cek = recipients.unwrap(entry.header, entry.encrypted_key, key, "A256GCM")
    inner = jwe.decrypt(parsed, cek)
    protected = {k: v for k, v in parsed.protected.items() if k != "enc"}
    forwarded = jwe.encrypt(inner, protected, [agency.recipient.public_jwk])  # type: ignore[list-item]
    with pytest.raises(NotARecipient):
        open_envelope(forwarded, agency.org, agency.enc_key, registry)


def test_mixed_recipients_refused_at_seal(hospital: Member) -> None:
    classical, post_quantum = make_member("c", False), make_member("p", True)
    with pytest.raises(MixedRecipients):
        _seal(hospital, classical, post_quantum)


def test_mixed_recipients_refused_at_open(hospital: Member, registry: Registry) -> None:
    classical, post_quantum = make_member("c", False), make_member("p", True)
    a = json.loads(_seal(hospital, classical))
    b = json.loads(_seal(hospital, post_quantum))
    a["recipients"].append(b["recipients"][0])  # an attacker splices a recipient entry in
    with pytest.raises(MixedRecipients):
        open_envelope(json.dumps(a).encode(), classical.org, classical.enc_key, registry)


def test_unsupported_enc_is_refused(hospital: Member, insurer: Member, registry: Registry) -> None:
    def downgrade(doc: dict[str, object]) -> None:
        raw = b64.decode(str(doc["protected"])).replace(b"A256GCM", b"A128GCM")
        doc["protected"] = b64.encode_str(raw)

    envelope = _edit(_seal(hospital, insurer), downgrade)
    with pytest.raises(EnvelopeError, match="enc"):
        open_envelope(envelope, insurer.org, insurer.enc_key, registry)


def test_seal_refuses_oversize_payload_and_no_recipients(hospital: Member) -> None:
    with pytest.raises(EnvelopeError):
        _seal(hospital, make_member("x", False), payload=b"x" * (MAX_PAYLOAD_BYTES + 1))
    with pytest.raises(EnvelopeError):
        _seal(hospital)


def test_twenty_megabyte_payload_round_trips() -> None:
    sender, receiver = make_member("hospital-a", False), make_member("insurer-b", False)
    payload = b'{"resourceType":"Binary","data":"' + b"A" * (MAX_PAYLOAD_BYTES - 40) + b'"}'
    assert len(payload) <= MAX_PAYLOAD_BYTES
    envelope = _seal(sender, receiver, payload=payload)
    opened = open_envelope(envelope, receiver.org, receiver.enc_key, Registry(sender))
    assert opened.payload == payload


@pytest.mark.parametrize("extra", [{"zip": "DEF"}, {"crit": ["exp"], "exp": 1}])
def test_compression_and_critical_extensions_are_refused(
    extra: dict[str, object], hospital: Member, insurer: Member, registry: Registry
) -> None:
    header = {"kid": hospital.kid, "iss": hospital.org, "aud": [insurer.org]}
    token = jws.sign_compact(BUNDLE, header, hospital.signing_key)
    protected = {"iss": hospital.org, "skid": hospital.kid, **extra}
    envelope = jwe.encrypt(token, protected, [insurer.recipient.public_jwk])  # type: ignore[list-item]
    with pytest.raises(UnsupportedAlgorithm):
        open_envelope(envelope, insurer.org, insurer.enc_key, registry)


def test_seal_refuses_kid_of_another_key(hospital: Member, insurer: Member) -> None:
    with pytest.raises(BadSender):
        seal(BUNDLE, hospital.org, insurer.kid, hospital.signing_key, [insurer.recipient])


def test_outer_sender_differing_from_inner_signer_is_refused(
    hospital: Member, insurer: Member, agency: Member, registry: Registry
) -> None:
    # A valid JWS by the hospital, in an envelope whose protected header names the agency.
    header = {"kid": hospital.kid, "iss": hospital.org, "aud": [insurer.org]}
    token = jws.sign_compact(BUNDLE, header, hospital.signing_key)
    protected = {"iss": agency.org, "skid": agency.kid}
    envelope = jwe.encrypt(token, protected, [insurer.recipient.public_jwk])  # type: ignore[list-item]
    with pytest.raises(BadSender):
        open_envelope(envelope, insurer.org, insurer.enc_key, registry)


def test_duplicate_members_are_refused(
    hospital: Member, insurer: Member, registry: Registry
) -> None:
    # Two parsers picking different duplicates would disagree on what the envelope says.
    envelope = _seal(hospital, insurer)
    other = _seal(hospital, insurer, payload=b'{"resourceType":"Bundle"}')
    ciphertext = json.loads(other)["ciphertext"]
    # The genuine member last: a parser keeping the last duplicate would open it.
    outer = b'{"ciphertext":"' + ciphertext.encode() + b'",' + envelope[1:]
    kid = json.loads(envelope)["recipients"][0]["header"]["kid"]
    inner = envelope.replace(b'"kid":"' + kid.encode(), b'"kid":"x","kid":"' + kid.encode(), 1)
    assert inner != envelope
    assert outer.startswith(b'{"ciphertext"')
    for forged in (outer, inner):
        with pytest.raises(TamperedEnvelope):
            open_envelope(forged, insurer.org, insurer.enc_key, registry)


def test_an_envelope_reformatted_by_another_json_writer_still_opens(
    hospital: Member, insurer: Member, registry: Registry
) -> None:
    envelope = _seal(hospital, insurer)
    spaced = json.dumps(json.loads(envelope), indent=1).encode()
    assert open_envelope(spaced, insurer.org, insurer.enc_key, registry).payload == BUNDLE
