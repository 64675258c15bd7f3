"""Benchmark: sealing and opening envelopes against raw AES-256-GCM on the same bytes, same run.

Prints one JSON object:
  seal_mb_per_s, open_mb_per_s          1 MB FHIR bundle, 2 classical recipients (ECDH-ES+A256KW),
                                        sign (ES256) then encrypt (A256GCM), JWE JSON General
  pq_seal_mb_per_s, pq_open_mb_per_s    the same with 2 post-quantum recipients (HPKE-9-KE)
  aes_gcm_mb_per_s                      AES-256-GCM of the same 1 MB (fresh key and nonce each)
  seal_ratio                            seal_mb_per_s / aes_gcm_mb_per_s   (bar: >= 0.1)
  joserfc_seal_mb_per_s                 joserfc doing the same classical seal, for reference
Each figure is the median of interleaved rounds, so a noisy neighbour hurts every figure alike.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jwe as jose_jwe
from joserfc import jws as jose_jws
from joserfc.jwk import ECKey

from gateway.crypto import keys
from gateway.crypto.envelope import Recipient, open_envelope, seal

MB = 1024 * 1024


def fhir_bundle(size: int) -> bytes:
    """A searchset Bundle of Claim resources: valid JSON of at most `size` bytes, within 1 KB of it."""
    prefix, suffix = b'{"resourceType":"Bundle","type":"searchset","entry":[', b"]}"
    entries: list[bytes] = []
    used = len(prefix) + len(suffix)
    for i in range(size):  # bounded: every entry is longer than one byte
        entry = json.dumps(_claim(i), separators=(",", ":")).encode()
        if used + len(entry) + 1 > size:
            break
        entries.append(entry)
        used += len(entry) + 1
    return prefix + b",".join(entries) + suffix


def _claim(i: int) -> dict[str, object]:
    return {
        "fullUrl": f"urn:uuid:claim-{i}",
        "resource": {
            "resourceType": "Claim",
            "id": f"claim-{i}",
            "status": "active",
            "use": "claim",
            "patient": {"reference": f"Patient/p-{i % 97}"},
            "created": "2026-01-15",
            "total": {"value": 100 + i % 900, "currency": "EUR"},
            "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {"text": "J06.9"}}],
        },
    }


def median_seconds(samples: list[float]) -> float:
    return statistics.median(samples)


def run(rounds: int, joserfc_rounds: int) -> dict[str, float]:
    payload = fhir_bundle(MB)
    signing = ec.generate_private_key(ec.SECP256R1())
    kid = keys.signing_kid(signing.public_key())
    resolver = {("hospital-a", kid): signing.public_key()}

    def resolve(org: str, k: str) -> ec.EllipticCurvePublicKey | None:
        return resolver.get((org, k))

    cases: dict[str, Callable[[], object]] = {}
    for label, pq in (("", False), ("pq_", True)):
        private = [keys.generate_encryption_key(pq) for _ in range(2)]
        to = [Recipient(f"org-{i}", keys.public_jwk(k)) for i, k in enumerate(private)]
        sealed = seal(payload, "hospital-a", kid, signing, to)
        opened = open_envelope(sealed, "org-0", private[0], resolve)
        assert opened.payload == payload
        cases[f"{label}seal"] = functools.partial(seal, payload, "hospital-a", kid, signing, to)
        cases[f"{label}open"] = functools.partial(
            open_envelope, sealed, "org-0", private[0], resolve
        )
    cases["aes_gcm"] = lambda: AESGCM(AESGCM.generate_key(256)).encrypt(
        os.urandom(12), payload, None
    )
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            start = time.perf_counter()
            case()
            samples[name].append(time.perf_counter() - start)
    size_mb = len(payload) / MB
    out = {f"{name}_mb_per_s": round(size_mb / median_seconds(s), 1) for name, s in samples.items()}
    out["seal_ratio"] = round(out["seal_mb_per_s"] / out["aes_gcm_mb_per_s"], 4)
    out["joserfc_seal_mb_per_s"] = round(size_mb / joserfc_seal_seconds(payload, joserfc_rounds), 1)
    out["payload_bytes"] = len(payload)
    return out


def joserfc_seal_seconds(payload: bytes, rounds: int) -> float:
    signing = ECKey.generate_key("P-256")
    to = [ECKey.generate_key("P-256") for _ in range(2)]
    registry = jose_jwe.JWERegistry()

    def once() -> None:
        token = jose_jws.serialize_compact({"alg": "ES256"}, payload, signing)
        obj = jose_jwe.GeneralJSONEncryption(
            {"enc": "A256GCM", "cty": "application/fhir+json"}, token.encode()
        )
        for key in to:
            obj.add_recipient({"alg": "ECDH-ES+A256KW"}, key)
        jose_jwe.encrypt_json(obj, None, registry=registry)

    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        once()
        samples.append(time.perf_counter() - start)
    return median_seconds(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--joserfc-rounds", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(run(args.rounds, args.joserfc_rounds)))


if __name__ == "__main__":
    main()
