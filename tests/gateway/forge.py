"""Hand-built JWTs for attack tests: any header, any claims, any (or no) signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(orjson.dumps(header))}.{b64(orjson.dumps(claims))}"


def alg_none(kid: str, claims: dict[str, Any]) -> str:
    return unsigned({"alg": "none", "kid": kid, "typ": "JWT"}, claims) + "."


def hs256_with_public_key(
    kid: str, claims: dict[str, Any], key: ec.EllipticCurvePublicKey, encoding: str
) -> str:
    """HS256 keyed with the verifier's public key bytes: the classic algorithm-confusion forgery."""
    enc = serialization.Encoding.PEM if encoding == "pem" else serialization.Encoding.DER
    secret = key.public_bytes(enc, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = unsigned({"alg": "HS256", "kid": kid, "typ": "JWT"}, claims)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def tamper(token: str, **changes: Any) -> str:
    """Change claims of a signed token, keeping its header and signature."""
    header, payload, signature = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{b64(orjson.dumps({**claims, **changes}))}.{signature}"
