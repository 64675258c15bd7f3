"""JWTs shared by client assertions, access tokens and peer assertions: ES256 only, except the
client assertions of SMART Backend Services, where ES384 and RS384 are accepted too (the SMART
specification requires servers to support RS384 and ES384). Everything medgate signs is ES256.

Every token is checked in the same order: it is split and decoded once (``parse``), its header must
name an algorithm of the caller's pinned set and a ``kid`` and carry no ``crit`` (so ``none``,
HMAC and extensions we would ignore never reach a key), the caller finds the key for that kid, the
signature is verified over the exact bytes received with the one algorithm that key type allows
(a P-256 key only ES256, a P-384 key only ES384, an RSA key of 2048 bits or more only RS384: a key
never verifies under another algorithm than its own), then the claims are checked against the
expected issuer and audience with a leeway of LEEWAY_SECONDS, and the lifetime is bounded. Pure:
``now`` is an argument.

Built on ``cryptography`` directly rather than joserfc: three of these run per exchange request,
and joserfc's generic framing cost about twice the ECDSA operation itself. The claim rules are
RFC 7519's as joserfc applies them (tests check tokens both ways against joserfc).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from gateway.crypto import b64
from gateway.errors import AuthError
from ledger.ids import Kid

ALGORITHMS = frozenset({"ES256"})
"""Access tokens, peer assertions, patient tokens: what medgate itself signs."""
CLIENT_ALGORITHMS = ("ES256", "ES384", "RS384")
"""Client assertions at the token endpoint (advertised in the SMART configuration)."""
MIN_RSA_BITS = 2048
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
MAX_TOKEN_CHARS = 8192
LEEWAY_SECONDS = 30
MAX_LIFETIME_SECONDS = 300
_ECDSA = ec.ECDSA(hashes.SHA256())
_ECDSA_384 = ec.ECDSA(hashes.SHA384())


@dataclass(frozen=True, slots=True)
class Expect:
    """What a verified token must say; ``subject`` None means the issuer (self-issued tokens)."""

    issuer: str
    audience: str
    subject: str | None = None
    max_lifetime: int = MAX_LIFETIME_SECONDS
    leeway: int = LEEWAY_SECONDS


@dataclass(frozen=True, slots=True)
class Token:
    """A compact JWT split and decoded, its signature NOT yet checked: ``verify`` it first."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    signing_input: bytes
    signature: bytes
    """Raw r || s for ES256 (64 bytes) and ES384 (96), the PKCS#1 v1.5 signature for RS384."""

    @property
    def kid(self) -> Kid:
        return Kid(self.header["kid"])

    def claim(self, name: str) -> str:
        """A claimed string (iss, sub), used only to choose whose keys to try; verification
        follows. Raises AuthError when it is missing or not a non-empty string."""
        value = self.claims.get(name)
        if not isinstance(value, str) or not value:
            raise AuthError(f"token has no {name}")
        return value


def parse(token: str, algorithms: frozenset[str] = ALGORITHMS) -> Token:
    """Split and decode ``token``, refusing any algorithm not in ``algorithms``, a missing kid
    and any ``crit`` header. Checks no signature. Raises AuthError."""
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise AuthError("malformed token")
    header_b64, payload_b64, signature_b64 = token.split(".")
    try:
        header = orjson.loads(b64.decode(header_b64))
        claims = orjson.loads(b64.decode(payload_b64))
        signature = b64.decode(signature_b64)
    except ValueError as exc:  # orjson.JSONDecodeError and UnicodeEncodeError are ValueErrors
        raise AuthError("malformed token") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthError("malformed token")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms or "crit" in header:
        raise AuthError(f"token algorithm not accepted ({', '.join(sorted(algorithms))} only)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthError("token has no kid")
    signing_input = token[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")
    return Token(header, claims, signing_input, signature)


def unverified_kid(token: str) -> Kid:
    """The header's kid, after refusing any algorithm but ES256. Checks no signature."""
    return parse(token).kid


def unverified_claim(token: str, name: str) -> str:
    """A claimed string (iss, sub), used only to choose whose keys to try; verification follows."""
    return parse(token).claim(name)


def verify(token: str | Token, key: PublicKey, expect: Expect, now: int) -> dict[str, Any]:
    """Verify signature and claims; return the claims. Raises AuthError.

    Requires a ``Token`` parsed with the algorithms the caller accepts (a str is parsed ES256
    only). Essential: iss, sub (= expect.subject, or = iss when None), aud equal to
    expect.audience, exp, iat, jti; nbf checked if present.
    """
    parsed = parse(token) if isinstance(token, str) else token
    try:
        _verify_signature(parsed, key)
    except InvalidSignature as exc:
        raise AuthError("token signature invalid") from exc
    claims = dict(parsed.claims)
    check_claims(claims, expect, now)
    return claims


def _verify_signature(parsed: Token, key: PublicKey) -> None:
    # The algorithm must be the key's own: an RSA key never verifies an ES token nor the reverse,
    # and a P-256 key never ES384 (no algorithm confusion across key types).
    alg, signature = parsed.header["alg"], parsed.signature
    if alg == "RS384":
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
            raise InvalidSignature
        key.verify(signature, parsed.signing_input, padding.PKCS1v15(), hashes.SHA384())
        return
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise InvalidSignature
    if alg == "ES256" and isinstance(key.curve, ec.SECP256R1) and len(signature) == 64:
        size, algorithm = 32, _ECDSA
    elif alg == "ES384" and isinstance(key.curve, ec.SECP384R1) and len(signature) == 96:
        size, algorithm = 48, _ECDSA_384
    else:
        raise InvalidSignature
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    key.verify(encode_dss_signature(r, s), parsed.signing_input, algorithm)


def check_claims(claims: Mapping[str, Any], expect: Expect, now: int) -> None:
    """RFC 7519 claim checks of an already verified token. Raises AuthError naming the claim."""
    wanted = {"iss": expect.issuer, "sub": expect.subject or expect.issuer, "aud": expect.audience}
    for name in ("iss", "sub", "aud", "exp", "iat", "jti"):
        if claims.get(name) is None:
            raise AuthError(f"token claim {name!r} invalid")
    for name, value in wanted.items():
        # One audience only: a token addressed to several gateways could be replayed at each,
        # since every member keeps its own jti table.
        if not isinstance(claims[name], str) or claims[name] != value:
            raise AuthError(f"token claim {name!r} invalid")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti:
        raise AuthError("token claim 'jti' invalid")
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _numeric_date(claims[name]):
            raise AuthError(f"token claim {name!r} invalid")
    if claims["exp"] <= now - expect.leeway:
        raise AuthError("token claim 'exp' invalid")
    if claims["iat"] > now + expect.leeway:
        raise AuthError("token claim 'iat' invalid")
    if "nbf" in claims and claims["nbf"] > now + expect.leeway:
        raise AuthError("token claim 'nbf' invalid")
    if claims["exp"] - claims["iat"] > expect.max_lifetime:
        raise AuthError(f"token lifetime exceeds {expect.max_lifetime} s")


def valid_window(claims: Mapping[str, Any], expect: Expect) -> tuple[float, float]:
    """The times ``now`` at which ``check_claims(claims, expect, now)`` accepts these claims'
    dates: ``first <= now < last``. Requires claims that passed ``check_claims`` once. What a cache
    of verified tokens must re-check on every use."""
    first = max(claims["iat"], claims.get("nbf", claims["iat"])) - expect.leeway
    return first, claims["exp"] + expect.leeway


def _numeric_date(value: object) -> bool:
    # NumericDate is a JSON number; NaN and Infinity are not (a NaN exp would never expire).
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def sign(claims: Mapping[str, Any], key: ec.EllipticCurvePrivateKey, kid: Kid) -> str:
    """Sign ``claims`` as a compact ES256 JWT with ``kid`` in the header. Requires a P-256 key."""
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("ES256 needs a P-256 key")
    header = orjson.dumps({"typ": "JWT", "alg": "ES256", "kid": kid})
    signing_input = b".".join((b64.encode(header), b64.encode(orjson.dumps(claims))))
    r, s = decode_dss_signature(key.sign(signing_input, _ECDSA))
    signature = b64.encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return b".".join((signing_input, signature)).decode("ascii")
