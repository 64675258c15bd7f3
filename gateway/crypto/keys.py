"""Members' encryption keys as JWKs: generate, derive public parts and kids, load them.

Classical keys are P-256 EC JWKs for ECDH-ES+A256KW (RFC 7518 section 4.6). Post-quantum keys are
"AKP" JWKs for HPKE-9-KE (ML-KEM-768 + X25519, draft-ietf-jose-hpke-pq-pqt): "pub" is the
1,216-byte public key (ML-KEM-768 || X25519), "priv" the 32-byte seed it expands from.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x25519
from cryptography.hazmat.primitives.hpke import MLKEM768X25519PrivateKey, MLKEM768X25519PublicKey

from gateway.crypto import b64
from gateway.crypto.errors import KeyFormatError, UnsupportedAlgorithm

Jwk = dict[str, str]

CLASSICAL_ALG = "ECDH-ES+A256KW"
PQ_ALG = "HPKE-9-KE"
_SEED_LEN = 32
_MLKEM768_PUB_LEN = 1184
_X25519_LEN = 32
# RFC 7638 required members per key type; for AKP the thumbprint covers alg too (the vectors' kids
# are computed this way: the same bytes under another algorithm are another key).
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "AKP": ("alg", "kty", "pub")}


def b64u(data: bytes) -> str:
    """base64url without padding (RFC 7515 section 2)."""
    return b64.encode_str(data)


def b64u_decode(text: str) -> bytes:
    """Strict base64url decoding of a JWK member: padding and other alphabets are refused."""
    if not isinstance(text, str):
        raise KeyFormatError("JWK member is not text")
    try:
        return b64.decode(text)
    except ValueError as exc:
        raise KeyFormatError("JWK member is not base64url") from exc


def generate_encryption_key(pq: bool) -> Jwk:
    """A new private encryption JWK with "kid": AKP HPKE-9-KE if `pq`, else P-256 ECDH-ES+A256KW."""
    if pq:
        seed = secrets.token_bytes(_SEED_LEN)
        jwk: Jwk = {"kty": "AKP", "alg": PQ_ALG, "pub": b64u(_xwing_public_bytes(seed))}
        jwk["priv"] = b64u(seed)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        nums = key.private_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64u(nums.public_numbers.x.to_bytes(32, "big")),
            "y": b64u(nums.public_numbers.y.to_bytes(32, "big")),
            "d": b64u(nums.private_value.to_bytes(32, "big")),
            "alg": CLASSICAL_ALG,
        }
    jwk["use"] = "enc"
    jwk["kid"] = jwk_thumbprint(jwk)
    return jwk


def jwk_thumbprint(jwk: Jwk) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url); for AKP over {alg, kty, pub} as the PQ draft."""
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty", ""))
    if members is None:
        raise UnsupportedAlgorithm("kty", jwk.get("kty"))
    try:
        subset = {name: jwk[name] for name in members}
    except KeyError as exc:
        raise KeyFormatError(f"JWK lacks {exc.args[0]!r}") from exc
    text = json.dumps(subset, sort_keys=True, separators=(",", ":"))
    return b64u(hashlib.sha256(text.encode()).digest())


def public_jwk(private_jwk: Jwk) -> Jwk:
    """The public half of an encryption JWK, "kid" = its thumbprint. Accepts public JWKs too."""
    kty = private_jwk.get("kty")
    names = ("kty", "crv", "x", "y") if kty == "EC" else ("kty", "pub")
    out = {name: private_jwk[name] for name in names if name in private_jwk}
    out["alg"] = key_alg(private_jwk)
    out["use"] = "enc"
    out["kid"] = jwk_thumbprint(out)
    return out


def key_alg(jwk: Jwk) -> str:
    """The pinned key-management alg of a JWK: HPKE-9-KE for AKP, ECDH-ES+A256KW for P-256 EC."""
    kty, alg = jwk.get("kty"), jwk.get("alg")
    if kty == "AKP" and alg == PQ_ALG:
        return PQ_ALG
    if kty == "EC" and jwk.get("crv") == "P-256" and alg in (None, CLASSICAL_ALG):
        return CLASSICAL_ALG
    raise UnsupportedAlgorithm("encryption key", f"{kty}/{alg}")


def is_pq(jwk: Jwk) -> bool:
    """Whether the JWK is a post-quantum (HPKE-9-KE) key. Raises for keys outside the allow-list."""
    return key_alg(jwk) == PQ_ALG


def ec_public_key(jwk: Jwk) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of an EC JWK; the point is checked to be on the curve."""
    if key_alg(jwk) != CLASSICAL_ALG:
        raise KeyFormatError("not a P-256 key")
    x, y = b64u_decode(jwk.get("x", "")), b64u_decode(jwk.get("y", ""))
    if len(x) != 32 or len(y) != 32:
        raise KeyFormatError("P-256 coordinates must be 32 bytes")
    try:
        # The SEC 1 uncompressed point: decoding checks both coordinates are field elements and
        # the point is on the curve, as building it from numbers does, at half the cost.
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    except ValueError as exc:
        raise KeyFormatError("point not on P-256") from exc


def ec_private_key(jwk: Jwk) -> ec.EllipticCurvePrivateKey:
    """The P-256 private key of an EC JWK with "d"; refused if "d" does not match "x"/"y"."""
    public = ec_public_key(jwk)
    d = b64u_decode(jwk.get("d", ""))
    if len(d) != 32:
        raise KeyFormatError("P-256 private key must be 32 bytes")
    try:
        key = ec.derive_private_key(int.from_bytes(d), ec.SECP256R1())
    except ValueError as exc:
        raise KeyFormatError("invalid P-256 private scalar") from exc
    if key.public_key() != public:
        raise KeyFormatError("private scalar does not match the public point")
    return key


def xwing_public_key(jwk: Jwk) -> MLKEM768X25519PublicKey:
    """The ML-KEM-768 + X25519 public key of an AKP HPKE-9-KE JWK."""
    if key_alg(jwk) != PQ_ALG:
        raise KeyFormatError("not an HPKE-9-KE key")
    raw = b64u_decode(jwk.get("pub", ""))
    if len(raw) != _MLKEM768_PUB_LEN + _X25519_LEN:
        raise KeyFormatError("HPKE-9 public key must be 1216 bytes")
    try:
        kem = mlkem.MLKEM768PublicKey.from_public_bytes(raw[:_MLKEM768_PUB_LEN])
        dh = x25519.X25519PublicKey.from_public_bytes(raw[_MLKEM768_PUB_LEN:])
    except ValueError as exc:
        raise KeyFormatError("invalid HPKE-9 public key") from exc
    return MLKEM768X25519PublicKey(kem, dh)


def xwing_private_key(jwk: Jwk) -> MLKEM768X25519PrivateKey:
    """The ML-KEM-768 + X25519 private key expanded from an AKP JWK's 32-byte seed "priv"."""
    if key_alg(jwk) != PQ_ALG:
        raise KeyFormatError("not an HPKE-9-KE key")
    seed = b64u_decode(jwk.get("priv", ""))
    if len(seed) != _SEED_LEN:
        raise KeyFormatError("HPKE-9 private seed must be 32 bytes")
    if "pub" in jwk and b64u_decode(jwk["pub"]) != _xwing_public_bytes(seed):
        raise KeyFormatError("seed does not match the public key")
    kem, dh = _expand_seed(seed)
    return MLKEM768X25519PrivateKey(kem, dh)


def signing_kid(public_key: ec.EllipticCurvePublicKey) -> str:
    """A signing key's kid (the ledger's convention): base64url(SHA-256(DER SPKI))."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return b64u(digest.finalize())


def write_private_jwk(path: Path, jwk: Jwk) -> None:
    """Write a private JWK as JSON, created with mode 0600 (never readable by others)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(jwk, out, sort_keys=True, indent=2)


def read_jwk(path: Path) -> Jwk:
    """Read a JWK JSON file: an object of string members with a key type in the allow-list."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise KeyFormatError(f"{path}: not JSON") from exc
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise KeyFormatError(f"{path}: a JWK is an object of string members")
    key_alg(data)
    return data


def _expand_seed(seed: bytes) -> tuple[mlkem.MLKEM768PrivateKey, x25519.X25519PrivateKey]:
    # The draft's key generation: SHAKE256(seed, 96); bytes 0..64 seed ML-KEM-768, 64..96 X25519.
    expanded = hashlib.shake_256(seed).digest(96)
    kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
    return kem, x25519.X25519PrivateKey.from_private_bytes(expanded[64:])


def _xwing_public_bytes(seed: bytes) -> bytes:
    kem, dh = _expand_seed(seed)
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    return kem.public_key().public_bytes_raw() + dh.public_key().public_bytes(*raw)
